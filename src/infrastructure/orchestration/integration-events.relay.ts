import { Inject, Injectable, Optional } from '@nestjs/common';
import { IntegrationEventPublisher, toIntegrationEvent } from '../../application/integration/integration-events';
import { CheckpointStore, EventStore } from '../../application/ports/event-store';
import { CatchUpSubscription } from '../../application/subscriptions/catch-up-subscription';
import { CHECKPOINT_STORE, EVENT_STORE } from '../../application/tokens';

export const INTEGRATION_PUBLISHER = Symbol('IntegrationEventPublisher');
const SUBSCRIPTION = 'integration-events';

/**
 * Publishes integration events from the event log (a catch-up subscription with a durable
 * checkpoint), not from request handlers: an event that is stored is published even if the
 * process dies right after storing it. Delivery is at least once; consumers deduplicate by id.
 * It runs in the process that leads the control plane (Orchestrator).
 */
@Injectable()
export class IntegrationEventsRelay {
  private readonly subscription: CatchUpSubscription | null;

  constructor(
    @Inject(EVENT_STORE) events: EventStore,
    @Inject(CHECKPOINT_STORE) checkpoints: CheckpointStore,
    @Optional()
    @Inject(INTEGRATION_PUBLISHER)
    private readonly publisher: (IntegrationEventPublisher & { close?: () => Promise<void> }) | null,
  ) {
    this.subscription = publisher
      ? new CatchUpSubscription(SUBSCRIPTION, events, {
          loadCheckpoint: () => checkpoints.load(SUBSCRIPTION),
          handleBatch: async (batch) => {
            const integration = batch.map(toIntegrationEvent).filter((event) => event !== null);
            await publisher.publish(integration);
            await checkpoints.save(SUBSCRIPTION, batch[batch.length - 1].position);
          },
        })
      : null;
  }

  start(): void {
    this.subscription?.start();
  }

  async stop(): Promise<void> {
    await this.subscription?.stop();
  }

  /** After stop, at shutdown: the publisher's connection. */
  async close(): Promise<void> {
    await this.publisher?.close?.();
  }
}
