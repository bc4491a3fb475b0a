import { Transaction } from 'kysely';
import { toDomainEvent } from '../event-envelope';
import { RecordedEvent } from '../ports/event-store';
import { Projection } from './projection';
import { ReadModelDatabase } from './read-model';

/**
 * Data subjects, by pseudonym only: which completed backups hold data of each (from the counts
 * the worker reports in BackupCompleted), and the erasure requests with their outcome.
 */
export class SubjectsProjection implements Projection {
  readonly name = 'subjects';
  readonly tables: (keyof ReadModelDatabase)[] = ['subject_backups', 'erasures'];

  async apply(trx: Transaction<ReadModelDatabase>, recorded: RecordedEvent): Promise<void> {
    const event = toDomainEvent(recorded);
    const erasure = (id: string) => trx.updateTable('erasures').where('id', '=', id);
    switch (event.type) {
      case 'BackupCompleted': {
        const { backupId, snapshotId, at } = event.data;
        for (const held of event.data.subjects ?? []) {
          await trx
            .insertInto('subject_backups')
            .values({
              subject_pseudonym: held.subject,
              backup_id: backupId,
              snapshot_id: snapshotId,
              files: held.files,
              bytes: held.bytes,
              completed_at: at,
            })
            .onConflict((oc) => oc.columns(['subject_pseudonym', 'backup_id']).doNothing())
            .execute();
        }
        return;
      }
      case 'ErasureRequested':
        await trx
          .insertInto('erasures')
          .values({
            id: event.data.erasureId,
            subject_pseudonym: event.data.subject,
            legal_basis: event.data.legalBasis,
            requested_by: event.data.requestedBy,
            status: 'requested',
            requested_at: event.data.at,
            completed_at: null,
            keys_shredded: null,
            failure_code: null,
            failure_reason: null,
          })
          .onConflict((oc) => oc.column('id').doNothing())
          .execute();
        return;
      case 'SubjectKeyShredded':
        await erasure(event.data.erasureId).set({ keys_shredded: event.data.keysShredded }).execute();
        return;
      case 'ErasureCompleted':
        await erasure(event.data.erasureId).set({ status: 'completed', completed_at: event.data.at }).execute();
        return;
      case 'ErasureFailed':
        await erasure(event.data.erasureId)
          .set({ status: 'failed', completed_at: event.data.at, failure_code: event.data.code, failure_reason: event.data.reason })
          .execute();
        return;
      default:
        return;
    }
  }
}
