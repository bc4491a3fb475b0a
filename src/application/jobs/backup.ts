import { z } from 'zod';
import { problemCountsOf } from '../../domain';
import { ExecuteBackupCommand } from '../commands/commands';
import { jobKind } from './job-kind';
import { boolean, count, nonEmptyString, object, pseudonym, stringArray } from './schema';

export const backupPayload = object({
  backupId: nonEmptyString(),
  sourceId: nonEmptyString(),
  path: nonEmptyString(),
  full: boolean(),
  /** The source's subject rules: files they match are stored under per-subject keys. */
  subjectRules: stringArray().optional(),
});

/**
 * A backup's statistics as the worker reports them. Only these fields reach the event; the
 * problem counts are copied reason by reason, so whatever else a worker put there (a path) never does.
 */
export const backupStatistics = object({
  files: count(),
  directories: count(),
  bytesRead: count(),
  totalBytes: count(),
  newBytes: count(),
  storedBytes: count(),
  duplicateBytes: count(),
  chunks: count(),
  durationMs: count(),
  errors: count(),
  problems: z
    .unknown()
    .optional()
    .transform((value) => (value === undefined ? undefined : problemCountsOf(value))),
});

export const backupResult = object({
  snapshotId: nonEmptyString(),
  merkleRoot: z.string(),
  statistics: backupStatistics,
  /** Present when the source has subject rules: one item per data subject found. */
  subjects: z.array(object({ subject: pseudonym(), files: count(), bytes: count(), keyCreated: boolean() })).optional(),
});

export type BackupJobPayload = z.infer<typeof backupPayload>;
export type BackupJobResult = z.infer<typeof backupResult>;

/** Backs up one source folder into a new snapshot; the backup aggregate records it. */
export const backupJob = jobKind({
  kind: 'backup',
  payload: backupPayload,
  result: backupResult,
  requestedBy: ['BackupRequested'],
  needs: (event) => ({ sourceId: event.data.sourceId }),
  request: (event, { source }) => {
    if (!source || source.status === 'none') return null;
    return {
      key: event.data.sourceId,
      aggregateId: event.data.backupId,
      payload: {
        backupId: event.data.backupId,
        sourceId: event.data.sourceId,
        path: source.path,
        full: event.data.backupType === 'full',
        ...(source.subjectRules.length > 0 && { subjectRules: source.subjectRules }),
      },
    };
  },
  settledBy: {
    BackupCompleted: (event) => event.data.backupId,
    BackupFailed: (event) => event.data.backupId,
  },
  // Workers are told to stop the job. One that finishes first anyway has its snapshot
  // discarded (the process manager's discard), so a cancel never leaves a snapshot behind.
  cancelledBy: { BackupCancelled: (event) => event.data.backupId },
  start: (job, attempt): ExecuteBackupCommand['command'] => ({
    type: 'StartBackup',
    backupId: job.payload.backupId,
    jobId: job.jobId,
    attempt,
  }),
  complete: (job, result): ExecuteBackupCommand['command'] => ({
    type: 'CompleteBackup',
    backupId: job.payload.backupId,
    jobId: job.jobId,
    snapshotId: result.snapshotId,
    merkleRoot: result.merkleRoot,
    statistics: result.statistics,
    ...(result.subjects && { subjects: result.subjects }),
  }),
  fail: (job, failure): ExecuteBackupCommand['command'] => ({
    type: 'FailBackup',
    backupId: job.payload.backupId,
    jobId: job.jobId,
    ...failure,
  }),
  message: (command, context) => new ExecuteBackupCommand(command, context),
  invalidArgumentReason: () => 'the source is neither a folder nor a file, or a subject rule of the source is invalid',
});
