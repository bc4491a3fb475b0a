import { Job, JobKind, JobStatusMessage } from '../../application/ports/job-bus';
import { PSEUDONYM_PATTERN } from '../../engine/repository/format';

/**
 * Shape checks for messages arriving on the job bus. Bus messages cross a process boundary in
 * the Kafka mode, so the adapters check them instead of trusting the static types. The
 * `...Problem` functions say what is wrong (for the dead-letter reason) and never echo values,
 * so a reason cannot carry personal data from the message.
 */

type Fields = Record<string, unknown>;

const STATUSES: readonly string[] = ['started', 'heartbeat', 'completed', 'failed'];

function isRecord(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

/** Attempts start at 1: the deciders treat attempt 0 as "never started". */
function isAttempt(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 1;
}

function isCount(value: unknown): boolean {
  return Number.isInteger(value) && (value as number) >= 0;
}

function isPseudonym(value: unknown): boolean {
  return typeof value === 'string' && PSEUDONYM_PATTERN.test(value);
}

function missingString(record: Fields, names: readonly string[]): string | undefined {
  return names.find((name) => !isNonEmptyString(record[name]));
}

/** The string fields each kind of job's payload must carry. */
const REQUIRED_STRINGS: Record<JobKind, readonly string[]> = {
  backup: ['backupId', 'sourceId', 'path'],
  restore: ['restoreId', 'backupId', 'snapshotId', 'target'],
  verify: ['backupId', 'verificationId', 'snapshotId'],
  erase: ['erasureId'],
  delete: ['backupId', 'deletionId', 'snapshotId'],
};
const JOB_KINDS: readonly string[] = Object.keys(REQUIRED_STRINGS);

function payloadProblem(kind: JobKind, payload: Fields): string | undefined {
  const missing = missingString(payload, REQUIRED_STRINGS[kind]);
  if (missing) return `payload.${missing} must be a non-empty string`;
  switch (kind) {
    case 'backup':
      return typeof payload.full === 'boolean' ? undefined : 'payload.full must be a boolean';
    case 'restore': {
      const include = payload.include;
      if (!Array.isArray(include) || !include.every((item) => typeof item === 'string'))
        return 'payload.include must be an array of strings';
      return payload.subject === undefined || isPseudonym(payload.subject) ? undefined : 'payload.subject must be a pseudonym';
    }
    case 'erase':
      return isPseudonym(payload.subject) ? undefined : 'payload.subject must be a pseudonym';
    default:
      return undefined;
  }
}

/** What makes `value` not a Job, or undefined when it is one. */
export function jobProblem(value: unknown): string | undefined {
  if (!isRecord(value)) return 'not an object';
  const missing = missingString(value, ['jobId', 'key']);
  if (missing) return `${missing} must be a non-empty string`;
  if (typeof value.kind !== 'string' || !JOB_KINDS.includes(value.kind)) return 'unknown kind';
  if (!isAttempt(value.attempt)) return 'attempt must be a positive integer';
  if (!isRecord(value.payload)) return 'payload must be an object';
  return payloadProblem(value.kind as JobKind, value.payload);
}

export function isJob(value: unknown): value is Job {
  return jobProblem(value) === undefined;
}

function progressProblem(progress: unknown): string | undefined {
  if (!isRecord(progress)) return 'progress must be an object';
  const bad = ['filesDone', 'bytesDone', 'totalFiles', 'totalBytes'].find((name) => !isCount(progress[name]));
  return bad ? `progress.${bad} must be a non-negative integer` : undefined;
}

function failureProblem(failure: unknown): string | undefined {
  if (!isRecord(failure)) return 'failure must be an object';
  const missing = missingString(failure, ['code', 'reason']);
  if (missing) return `failure.${missing} must be a non-empty string`;
  return typeof failure.retryable === 'boolean' ? undefined : 'failure.retryable must be a boolean';
}

/** What makes `value` not a JobStatusMessage, or undefined when it is one. */
export function jobStatusProblem(value: unknown): string | undefined {
  if (!isRecord(value)) return 'not an object';
  const missing = missingString(value, ['jobId', 'at']);
  if (missing) return `${missing} must be a non-empty string`;
  if (Number.isNaN(Date.parse(value.at as string))) return 'at must be a timestamp';
  if (typeof value.kind !== 'string' || !JOB_KINDS.includes(value.kind)) return 'unknown kind';
  if (!isAttempt(value.attempt)) return 'attempt must be a positive integer';
  switch (value.status) {
    case 'heartbeat':
      return value.progress === undefined ? undefined : progressProblem(value.progress);
    case 'completed':
      return isRecord(value.result) ? undefined : 'result must be an object';
    case 'failed':
      return failureProblem(value.failure);
    default:
      return typeof value.status === 'string' && STATUSES.includes(value.status) ? undefined : 'unknown status';
  }
}

export function isJobStatus(value: unknown): value is JobStatusMessage {
  return jobStatusProblem(value) === undefined;
}

export function jobControlProblem(value: unknown): string | undefined {
  if (!isRecord(value)) return 'not an object';
  const missing = missingString(value, ['jobId', 'at']);
  if (missing) return `${missing} must be a non-empty string`;
  if (Number.isNaN(Date.parse(value.at as string))) return 'at must be a timestamp';
  return value.action === 'cancel' ? undefined : 'unknown action';
}
