import { randomBytes } from 'node:crypto';
import { Admin, Kafka, logLevel } from 'kafkajs';

/**
 * The project's Kafka client (kafkajs 2.2.4) against the broker that `bash scripts/services.sh up`
 * starts (KAFKA_BROKERS overrides it): the calls a distributed Custodia makes must work on the
 * pinned broker version (Kafka 4.x dropped old protocol versions, KIP-896). Topics and groups are
 * unique to each run.
 */
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');

describe('kafkajs against the test broker', () => {
  const kafka = new Kafka({ clientId: 'custodia-it', brokers, logLevel: logLevel.NOTHING });
  const run = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const topic = `it-kafka-${run}`;
  let admin: Admin;

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
    // kafkajs's waitForLeaders gives up on the broker's brief "does not host this
    // topic-partition" right after creation; wait for the leaders ourselves.
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
    for (let i = 0; i < 300; i++) {
      const metadata = await admin.fetchTopicMetadata({ topics: [topic] }).catch(() => null);
      const partitions = metadata?.topics[0]?.partitions ?? [];
      if (partitions.length === 2 && partitions.every((partition) => partition.leader >= 0)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  afterAll(async () => {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });

  it('creates a topic, produces idempotently and in a transaction, and consumes everything in a consumer group', async () => {
    expect(await admin.listTopics()).toContain(topic);

    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const messages = Array.from({ length: 20 }, (_, i) => ({ key: `job-${i % 4}`, value: `event-${i}` }));
    await producer.send({ topic, messages });
    await producer.disconnect();

    const transactional = kafka.producer({ transactionalId: `it-tx-${run}`, idempotent: true, maxInFlightRequests: 1 });
    await transactional.connect();
    const transaction = await transactional.transaction();
    await transaction.send({ topic, messages: [{ key: 'job-tx', value: 'event-tx' }] });
    await transaction.commit();
    await transactional.disconnect();

    const groupId = `it-group-${run}`;
    const consumer = kafka.consumer({ groupId });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`consumed ${received.length} of 21 messages in 60 s`)), 60_000);
      consumer
        .run({
          eachMessage: async ({ message }) => {
            received.push(message.value?.toString() ?? '');
            if (received.length === 21) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
    await consumer.disconnect();
    expect(received.sort()).toEqual([...messages.map((message) => message.value), 'event-tx'].sort());

    // The group committed its offsets and is known to the coordinator.
    const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
    const committed = offsets[0].partitions.reduce((sum, partition) => sum + Number(partition.offset), 0);
    expect(committed).toBeGreaterThanOrEqual(21);
    const { groups } = await admin.describeGroups([groupId]);
    expect(groups[0]).toMatchObject({ groupId, protocolType: 'consumer' });
  });
});
