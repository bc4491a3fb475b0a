import { z } from 'zod';
import { ExecuteRestoreCommand } from '../commands/commands';
import { jobKind } from './job-kind';
import { count, nonEmptyString, object, pseudonym, stringArray } from './schema';

export const restorePayload = object({
  restoreId: nonEmptyString(),
  backupId: nonEmptyString(),
  snapshotId: nonEmptyString(),
  target: nonEmptyString(),
  include: stringArray(),
  /** An access request: restore only this data subject's files (a pseudonym). */
  subject: pseudonym().optional(),
});

export const restoreResult = object({
  files: count(),
  bytes: count(),
  /** Files of erased data subjects the restore could not write (counts only: the paths may name people). */
  skippedErased: object({ files: count(), bytes: count() }).optional(),
  /** Files whose metadata could not be restored (a count only). */
  metadataNotRestored: count().optional(),
});

export type RestoreJobPayload = z.infer<typeof restorePayload>;
export type RestoreJobResult = z.infer<typeof restoreResult>;

/** Restores a snapshot (or a subject's part of it) into a target folder; the restore aggregate records it. */
export const restoreJob = jobKind({
  kind: 'restore',
  payload: restorePayload,
  result: restoreResult,
  requestedBy: ['RestoreRequested'],
  request: (event) => ({
    key: event.data.sourceId,
    aggregateId: event.data.restoreId,
    payload: {
      restoreId: event.data.restoreId,
      backupId: event.data.backupId,
      snapshotId: event.data.snapshotId,
      target: event.data.target,
      include: event.data.include,
      ...(event.data.subject !== undefined && { subject: event.data.subject }),
    },
  }),
  settledBy: {
    RestoreCompleted: (event) => event.data.restoreId,
    RestoreFailed: (event) => event.data.restoreId,
  },
  start: (job, attempt): ExecuteRestoreCommand['command'] => ({
    type: 'StartRestore',
    restoreId: job.payload.restoreId,
    jobId: job.jobId,
    attempt,
  }),
  complete: (job, result): ExecuteRestoreCommand['command'] => ({
    type: 'CompleteRestore',
    restoreId: job.payload.restoreId,
    jobId: job.jobId,
    files: result.files,
    bytes: result.bytes,
    ...(result.skippedErased && { skippedErased: result.skippedErased }),
  }),
  fail: (job, failure): ExecuteRestoreCommand['command'] => ({
    type: 'FailRestore',
    restoreId: job.payload.restoreId,
    jobId: job.jobId,
    ...failure,
  }),
  message: (command, context) => new ExecuteRestoreCommand(command, context),
  invalidArgumentReason: (job, engineMessage) =>
    includeReason(engineMessage, job.payload.include) ??
    'the restore request is not valid for this snapshot (its include paths or data subject)',
});

/**
 * The engine's message about a restore's --include paths, when it quotes only include paths this
 * restore was asked for (normalised as the engine does); null otherwise.
 */
function includeReason(message: string, includes: string[]): string | null {
  const requested = new Set(
    includes.map((include) =>
      include
        .split('/')
        .filter((part) => part !== '' && part !== '.')
        .join('/'),
    ),
  );
  const unmatched =
    /^--include (.+): no such path in the snapshot( \(or it lies inside data of an erased subject, whose names cannot be read\))?$/.exec(
      message,
    );
  if (unmatched) {
    const quoted = unmatched[1].split(', ');
    if (quoted.every((include) => requested.has(include))) return message;
    return `an --include path matches nothing in the snapshot${unmatched[2] ?? ''}`;
  }
  const dotDot = /^--include (.+) must not contain "\.\."$/.exec(message);
  if (dotDot && includes.includes(dotDot[1])) return message;
  return null;
}
