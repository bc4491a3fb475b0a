import { Transaction } from 'kysely';
import { DomainEvent } from '../../domain';
import { toDomainEvent } from '../event-envelope';
import { RecordedEvent } from '../ports/event-store';
import { Projection } from './projection';
import { ReadModelDatabase } from './read-model';

/** Restore history: who restored which backup where, for what purpose, and how it ended. */
export class RestoreHistoryProjection implements Projection {
  readonly name = 'restore-history';
  readonly tables: (keyof ReadModelDatabase)[] = ['restores'];

  async apply(trx: Transaction<ReadModelDatabase>, recorded: RecordedEvent): Promise<void> {
    const event: DomainEvent = toDomainEvent(recorded);
    switch (event.type) {
      case 'RestoreRequested':
        await trx
          .insertInto('restores')
          .values({
            id: event.data.restoreId,
            backup_id: event.data.backupId,
            source_id: event.data.sourceId,
            snapshot_id: event.data.snapshotId,
            target: event.data.target,
            include: JSON.stringify(event.data.include),
            purpose: event.data.purpose,
            subject_pseudonym: event.data.subject ?? null,
            status: 'requested',
            requested_at: event.data.at,
            started_at: null,
            finished_at: null,
            files: null,
            bytes: null,
            skipped_files: null,
            skipped_bytes: null,
            failure_code: null,
            failure_reason: null,
          })
          .onConflict((oc) => oc.column('id').doNothing())
          .execute();
        return;
      case 'RestoreStarted':
        await trx
          .updateTable('restores')
          .where('id', '=', event.data.restoreId)
          .set({ status: 'running', started_at: event.data.at })
          .execute();
        return;
      case 'RestoreCompleted':
        await trx
          .updateTable('restores')
          .where('id', '=', event.data.restoreId)
          .set({
            status: 'completed',
            finished_at: event.data.at,
            files: event.data.files,
            bytes: event.data.bytes,
            skipped_files: event.data.skippedErased?.files ?? 0,
            skipped_bytes: event.data.skippedErased?.bytes ?? 0,
          })
          .execute();
        return;
      case 'RestoreFailed':
        await trx
          .updateTable('restores')
          .where('id', '=', event.data.restoreId)
          .set({ status: 'failed', finished_at: event.data.at, failure_code: event.data.code, failure_reason: event.data.reason })
          .execute();
        return;
      default:
        return;
    }
  }
}
