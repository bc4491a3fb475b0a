import { z } from 'zod';
import { isDeletionPending } from '../../domain';
import { ExecuteBackupCommand } from '../commands/commands';
import { jobKind } from './job-kind';
import { pruneSummary } from './prune-summary';
import { nonEmptyString, object } from './schema';

/** Remove a backup's snapshot from the repository, then prune what nothing uses any more. */
export const deletePayload = object({
  backupId: nonEmptyString(),
  deletionId: nonEmptyString(),
  snapshotId: nonEmptyString(),
});

export const deleteResult = object({ prune: pruneSummary.optional() });

export type DeleteJobPayload = z.infer<typeof deletePayload>;
export type DeleteJobResult = z.infer<typeof deleteResult>;

export const deleteJob = jobKind({
  kind: 'delete',
  payload: deletePayload,
  result: deleteResult,
  requestedBy: ['BackupDeletionRequested'],
  needs: (event) => ({ backupId: event.data.backupId }),
  request: (event, { backup }) => {
    // Settled since (a replay of the request): nothing to do.
    if (!backup || backup.status === 'none' || !isDeletionPending(backup, event.data.deletionId)) return null;
    return {
      key: backup.sourceId,
      aggregateId: event.data.deletionId,
      payload: { backupId: event.data.backupId, deletionId: event.data.deletionId, snapshotId: event.data.snapshotId },
    };
  },
  settledBy: {
    BackupDeleted: (event) => event.data.deletionId,
    BackupDeletionFailed: (event) => event.data.deletionId,
  },
  start: () => null,
  complete: (job, result): ExecuteBackupCommand['command'] => ({
    type: 'RecordBackupDeleted',
    backupId: job.payload.backupId,
    deletionId: job.payload.deletionId,
    jobId: job.jobId,
    prune: result.prune ?? null,
  }),
  fail: (job, failure): ExecuteBackupCommand['command'] => ({
    type: 'FailBackupDeletion',
    backupId: job.payload.backupId,
    deletionId: job.payload.deletionId,
    jobId: job.jobId,
    ...failure,
  }),
  message: (command, context) => new ExecuteBackupCommand(command, context),
  invalidArgumentReason: () => 'the job is not valid for this repository',
});
