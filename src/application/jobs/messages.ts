import { z } from 'zod';
import { JOB_KIND_NAMES, JOB_KINDS, JobKind } from './index';
import { attempt, boolean, count, nonEmptyString, object, problemOf, record, timestamp } from './schema';

/**
 * The schemas of the job bus's messages, which both adapters check what arrives against (in the
 * Kafka mode they cross a process boundary, so the static types are not to be trusted). Each
 * `...Problem` function says what is wrong, for the dead-letter reason.
 */
const kind = () => z.enum(JOB_KIND_NAMES as [JobKind, ...JobKind[]], { errorMap: () => ({ message: 'unknown kind' }) });

const jobEnvelope = object(
  { jobId: nonEmptyString(), key: nonEmptyString(), kind: kind(), attempt: attempt(), payload: record() },
  'not an object',
);

export const jobProgress = object({ filesDone: count(), bytesDone: count(), totalFiles: count(), totalBytes: count() });
export const jobFailure = object({ code: nonEmptyString(), reason: nonEmptyString(), retryable: boolean() });

const statusEnvelope = object(
  {
    jobId: nonEmptyString(),
    at: timestamp(),
    kind: kind(),
    attempt: attempt(),
    /** The worker's WORKER_ID, recorded with the attempt it takes (JobAttemptStarted). */
    worker: z.string().min(1).max(200).optional(),
  },
  'not an object',
);
const STATUS_BODIES = {
  started: object({}),
  heartbeat: object({ progress: jobProgress.optional() }),
  // A result is checked against its kind's schema by the process manager, which fails the job
  // (JOB_RESULT_INVALID) when it does not fit: a bad result is the job's failure, not the bus's.
  completed: object({ result: record() }),
  failed: object({ failure: jobFailure }),
} as const;

const control = object(
  { jobId: nonEmptyString(), at: timestamp(), action: z.literal('cancel', { errorMap: () => ({ message: 'unknown action' }) }) },
  'not an object',
);

/** What makes `value` not a Job (its envelope, then its payload by its kind's schema), or undefined when it is one. */
export function jobProblem(value: unknown): string | undefined {
  const envelope = problemOf(jobEnvelope, value);
  if (envelope) return envelope;
  const job = value as { kind: JobKind; payload: unknown };
  return problemOf(JOB_KINDS[job.kind].payload, job.payload, 'payload');
}

/** What makes `value` not a status message (ReceivedJobStatus), or undefined when it is one. */
export function jobStatusProblem(value: unknown): string | undefined {
  const envelope = problemOf(statusEnvelope, value);
  if (envelope) return envelope;
  const status = (value as { status?: unknown }).status;
  if (typeof status !== 'string' || !Object.hasOwn(STATUS_BODIES, status)) return 'unknown status';
  return problemOf(STATUS_BODIES[status as keyof typeof STATUS_BODIES], value);
}

export function jobControlProblem(value: unknown): string | undefined {
  return problemOf(control, value);
}
