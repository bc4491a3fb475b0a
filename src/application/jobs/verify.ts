import { z } from 'zod';
import { ExecuteBackupCommand } from '../commands/commands';
import { jobKind } from './job-kind';
import { count, nonEmptyString, object } from './schema';

export const verifyPayload = object({
  backupId: nonEmptyString(),
  verificationId: nonEmptyString(),
  snapshotId: nonEmptyString(),
});

export const verifyResult = object({ blobsChecked: count(), bytesChecked: count() });

export type VerifyJobPayload = z.infer<typeof verifyPayload>;
export type VerifyJobResult = z.infer<typeof verifyResult>;

/** Reads back every blob of a backup's snapshot; the backup aggregate records the outcome. */
export const verifyJob = jobKind({
  kind: 'verify',
  payload: verifyPayload,
  result: verifyResult,
  requestedBy: ['BackupVerificationRequested'],
  needs: (event) => ({ backupId: event.data.backupId }),
  request: (event, { backup }) => {
    if (!backup || backup.status === 'none' || !backup.snapshotId) return null;
    return {
      key: backup.sourceId,
      aggregateId: event.data.verificationId,
      payload: { backupId: event.data.backupId, verificationId: event.data.verificationId, snapshotId: backup.snapshotId },
    };
  },
  settledBy: {
    BackupVerified: (event) => event.data.verificationId,
    BackupVerificationFailed: (event) => event.data.verificationId,
  },
  start: () => null,
  complete: (job, result): ExecuteBackupCommand['command'] => ({
    type: 'RecordVerification',
    backupId: job.payload.backupId,
    verificationId: job.payload.verificationId,
    outcome: 'verified',
    blobsChecked: result.blobsChecked,
    bytesChecked: result.bytesChecked,
  }),
  fail: (job, failure): ExecuteBackupCommand['command'] => ({
    type: 'RecordVerification',
    backupId: job.payload.backupId,
    verificationId: job.payload.verificationId,
    outcome: 'failed',
    ...failure,
  }),
  message: (command, context) => new ExecuteBackupCommand(command, context),
  invalidArgumentReason: () => 'the job is not valid for this repository',
});
