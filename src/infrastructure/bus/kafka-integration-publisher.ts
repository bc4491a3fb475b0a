import { Kafka, logLevel, Producer } from 'kafkajs';
import { IntegrationEvent, IntegrationEventPublisher } from '../../application/integration/integration-events';

/** Publishes integration events to their topic, keyed by backup or restore id (ordered per subject). */
export class KafkaIntegrationPublisher implements IntegrationEventPublisher {
  private producer: Producer | null = null;
  private readonly kafka: Kafka;

  constructor(
    brokers: string[],
    private readonly topic: string,
    clientId = 'custodia-integration',
  ) {
    this.kafka = new Kafka({ clientId, brokers, logLevel: logLevel.NOTHING, retry: { retries: 8, initialRetryTime: 200 } });
  }

  async publish(events: IntegrationEvent[]): Promise<void> {
    if (events.length === 0) return;
    if (!this.producer) {
      this.producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await this.producer.connect();
    }
    await this.producer.send({
      topic: this.topic,
      acks: -1,
      messages: events.map((event) => ({
        key: event.subject,
        value: JSON.stringify(event),
        headers: { 'custodia-type': event.type, 'custodia-schema-version': String(event.schemaVersion), 'custodia-event-id': event.id },
      })),
    });
  }

  async close(): Promise<void> {
    await this.producer?.disconnect();
    this.producer = null;
  }
}
