import { Logger } from '@nestjs/common';
import { describeForLog } from '../describe-for-log';
import { EventStore, RecordedEvent } from '../ports/event-store';
import { mayRetry, retry, RetryPolicy } from '../retry';
import { CatchUpSubscription } from '../subscriptions/catch-up-subscription';
import { applyWithCheckpoint, loadProjectionCheckpoint, parkEvent, Projection } from './projection';
import { ReadModel } from './read-model';

/** Attempts at one batch (its subscription retries it from the checkpoint) before its events are tried one by one. */
const BATCH_ATTEMPTS = 5;
/** Attempts at a single event, at once, before it is stepped over. */
const SINGLE_EVENT_RETRY: RetryPolicy = { maxAttempts: 3, backoff: { kind: 'none' } };

/**
 * Runs each projection on its own catch-up subscription, checkpointed in the read model.
 *
 * An event a projection cannot apply would otherwise stop it for good (the subscription retries
 * from its checkpoint forever) and every later change would be missing from its read model. So
 * a batch that keeps failing is applied one event at a time, and an event that still fails on
 * its own is parked: recorded in projection_failures and stepped over, with an error in the log
 * and on GET /projections. Only that event's effect is missing; `custodia projections rebuild`
 * applies it once the projection is fixed.
 */
export class ProjectionRunner {
  private readonly logger = new Logger(ProjectionRunner.name);
  private readonly subscriptions: CatchUpSubscription[];
  private readonly failures = new Map<string, number>();
  private readonly batchRetry: RetryPolicy;

  constructor(
    private readonly events: EventStore,
    private readonly db: ReadModel,
    readonly projections: Projection[],
    pollIntervalMs = 1000,
    retryDelayMs = 1000,
  ) {
    this.batchRetry = { maxAttempts: BATCH_ATTEMPTS, backoff: { kind: 'constant', delayMs: retryDelayMs } };
    this.subscriptions = projections.map(
      (projection) =>
        new CatchUpSubscription(`projection:${projection.name}`, events, {
          loadCheckpoint: () => loadProjectionCheckpoint(db, projection.name),
          handleBatch: (batch) => this.applyOrPark(projection, batch),
          pollIntervalMs,
          retryBackoff: this.batchRetry.backoff,
        }),
    );
  }

  private async applyOrPark(projection: Projection, batch: RecordedEvent[]): Promise<void> {
    try {
      await applyWithCheckpoint(this.db, projection, batch);
      this.failures.delete(projection.name);
      return;
    } catch (error) {
      const failed = (this.failures.get(projection.name) ?? 0) + 1;
      this.failures.set(projection.name, failed);
      if (mayRetry(this.batchRetry, failed)) throw error;
    }
    this.failures.delete(projection.name);
    for (const event of batch) {
      let failure: unknown;
      try {
        await retry(SINGLE_EVENT_RETRY, () => applyWithCheckpoint(this.db, projection, [event]));
        continue;
      } catch (error) {
        failure = error;
      }
      // If the read model itself is unreachable, this throws too and nothing is stepped over.
      await parkEvent(this.db, projection, event, describeForLog(failure), new Date().toISOString());
      this.logger.error(
        `projection ${projection.name} stepped over the ${event.type} event at position ${event.position} ` +
          `(${describeForLog(failure)}); it is listed on GET /projections`,
      );
    }
  }

  start(): void {
    for (const subscription of this.subscriptions) subscription.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.subscriptions.map((subscription) => subscription.stop()));
  }

  /** Resolves once every projection has handled the global log up to `position`. */
  async waitFor(position: number): Promise<void> {
    await Promise.all(this.subscriptions.map((subscription) => subscription.waitFor(position)));
  }

  /**
   * Replays the whole log into empty tables, in one transaction: readers see the old rows until
   * the rebuilt ones are committed. Must not run while this runner's subscriptions are live.
   */
  async rebuild(batchSize = 500): Promise<{ events: number }> {
    let count = 0;
    await this.db.transaction().execute(async (trx) => {
      for (const projection of this.projections) {
        for (const table of projection.tables) await trx.deleteFrom(table).execute();
        await trx.deleteFrom('projection_checkpoints').where('name', '=', projection.name).execute();
        await trx.deleteFrom('projection_failures').where('projection', '=', projection.name).execute();
      }
      let position = 0;
      for (;;) {
        const batch = await this.events.readAll(position, batchSize);
        if (batch.length === 0) break;
        for (const event of batch) for (const projection of this.projections) await projection.apply(trx, event);
        position = batch[batch.length - 1].position;
        count += batch.length;
      }
      for (const projection of this.projections) {
        await trx.insertInto('projection_checkpoints').values({ name: projection.name, position }).execute();
      }
    });
    return { events: count };
  }
}
