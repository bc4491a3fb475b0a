import { Transaction } from 'kysely';
import { DomainEvent } from '../../domain';
import { toDomainEvent } from '../event-envelope';
import { RecordedEvent } from '../ports/event-store';
import { Projection } from './projection';
import { ReadModelDatabase } from './read-model';

/** The backup catalog: one row per backup with its status, times, statistics and snapshot. */
export class BackupCatalogProjection implements Projection {
  readonly name = 'backup-catalog';
  readonly tables: (keyof ReadModelDatabase)[] = ['backups'];

  async apply(trx: Transaction<ReadModelDatabase>, recorded: RecordedEvent): Promise<void> {
    const event: DomainEvent = toDomainEvent(recorded);
    const update = (id: string) => trx.updateTable('backups').where('id', '=', id);
    switch (event.type) {
      case 'BackupRequested':
        await trx
          .insertInto('backups')
          .values({
            id: event.data.backupId,
            source_id: event.data.sourceId,
            type: event.data.backupType,
            status: 'requested',
            requested_at: event.data.at,
            started_at: null,
            finished_at: null,
            attempt: 0,
            snapshot_id: null,
            merkle_root: null,
            statistics: null,
            failure_code: null,
            failure_reason: null,
            verification_status: 'none',
            verified_at: null,
            deleted_at: null,
          })
          .onConflict((oc) => oc.column('id').doNothing())
          .execute();
        return;
      case 'BackupStarted':
        await update(event.data.backupId).set({ status: 'running', started_at: event.data.at, attempt: event.data.attempt }).execute();
        return;
      case 'BackupCompleted':
        await update(event.data.backupId)
          .set({
            status: 'completed',
            finished_at: event.data.at,
            snapshot_id: event.data.snapshotId,
            merkle_root: event.data.merkleRoot,
            statistics: JSON.stringify(event.data.statistics),
          })
          .execute();
        return;
      case 'BackupFailed':
        await update(event.data.backupId)
          .set({ status: 'failed', finished_at: event.data.at, failure_code: event.data.code, failure_reason: event.data.reason })
          .execute();
        return;
      case 'BackupCancelled':
        await update(event.data.backupId)
          .set({ status: 'cancelled', finished_at: event.data.at, failure_reason: event.data.reason })
          .execute();
        return;
      case 'BackupVerificationRequested':
        await update(event.data.backupId).set({ verification_status: 'requested' }).execute();
        return;
      case 'BackupVerified':
        await update(event.data.backupId).set({ verification_status: 'verified', verified_at: event.data.at }).execute();
        return;
      case 'BackupVerificationFailed':
        await update(event.data.backupId).set({ verification_status: 'failed', verified_at: event.data.at }).execute();
        return;
      // Discarding a late snapshot (reason discard) leaves a cancelled or failed backup's row as
      // it is; so the outcome only changes a row that is 'deleting'.
      case 'BackupDeletionRequested':
        if (event.data.reason !== 'discard') await update(event.data.backupId).set({ status: 'deleting' }).execute();
        return;
      case 'BackupDeleted':
        await update(event.data.backupId).where('status', '=', 'deleting').set({ status: 'deleted', deleted_at: event.data.at }).execute();
        return;
      case 'BackupDeletionFailed':
        await update(event.data.backupId).where('status', '=', 'deleting').set({ status: 'completed' }).execute();
        return;
      default:
        return;
    }
  }
}
