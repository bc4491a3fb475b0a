import { Transaction } from 'kysely';
import { RecordedEvent } from '../ports/event-store';
import { ReadModel, ReadModelDatabase } from './read-model';

/**
 * A projection folds events into read-model tables. `apply` runs inside the transaction that
 * also advances the projection's checkpoint, so rows and checkpoint never disagree: after a
 * crash, the projection resumes exactly after the last event whose rows were committed.
 */
export interface Projection {
  readonly name: string;
  /** Tables this projection owns (cleared by a rebuild). */
  readonly tables: (keyof ReadModelDatabase)[];
  apply(trx: Transaction<ReadModelDatabase>, event: RecordedEvent): Promise<void>;
}

export async function loadProjectionCheckpoint(db: ReadModel, name: string): Promise<number> {
  const row = await db.selectFrom('projection_checkpoints').select('position').where('name', '=', name).executeTakeFirst();
  return row ? Number(row.position) : 0;
}

export async function applyWithCheckpoint(db: ReadModel, projection: Projection, events: RecordedEvent[]): Promise<void> {
  if (events.length === 0) return;
  await db.transaction().execute(async (trx) => {
    const current = await loadProjectionCheckpoint(trx as unknown as ReadModel, projection.name);
    for (const event of events) {
      // A batch that was already committed (redelivery after a crash) is skipped, not re-applied.
      if (event.position <= current) continue;
      await projection.apply(trx, event);
    }
    const position = events[events.length - 1].position;
    await trx
      .insertInto('projection_checkpoints')
      .values({ name: projection.name, position })
      // Never backwards: a slower process holding an older batch cannot undo a newer save.
      .onConflict((oc) => oc.column('name').doUpdateSet({ position }).where('projection_checkpoints.position', '<', position))
      .execute();
  });
}

/**
 * Steps over one event a projection cannot apply: records it in projection_failures and moves
 * the checkpoint past it, in one transaction, so the record and the skip never disagree.
 */
export async function parkEvent(db: ReadModel, projection: Projection, event: RecordedEvent, error: string, at: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx
      .insertInto('projection_failures')
      .values({ projection: projection.name, position: event.position, event_id: event.id, event_type: event.type, error, parked_at: at })
      .onConflict((oc) => oc.columns(['projection', 'position']).doNothing())
      .execute();
    await trx
      .insertInto('projection_checkpoints')
      .values({ name: projection.name, position: event.position })
      .onConflict((oc) =>
        oc.column('name').doUpdateSet({ position: event.position }).where('projection_checkpoints.position', '<', event.position),
      )
      .execute();
  });
}
