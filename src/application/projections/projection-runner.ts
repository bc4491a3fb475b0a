import { EventStore } from '../ports/event-store';
import { CatchUpSubscription } from '../subscriptions/catch-up-subscription';
import { applyWithCheckpoint, loadProjectionCheckpoint, Projection } from './projection';
import { ReadModel } from './read-model';

/** Runs each projection on its own catch-up subscription, checkpointed in the read model. */
export class ProjectionRunner {
  private readonly subscriptions: CatchUpSubscription[];

  constructor(
    private readonly events: EventStore,
    private readonly db: ReadModel,
    readonly projections: Projection[],
    pollIntervalMs = 1000,
  ) {
    this.subscriptions = projections.map(
      (projection) =>
        new CatchUpSubscription(`projection:${projection.name}`, events, {
          loadCheckpoint: () => loadProjectionCheckpoint(db, projection.name),
          handleBatch: (batch) => applyWithCheckpoint(db, projection, batch),
          pollIntervalMs,
        }),
    );
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
