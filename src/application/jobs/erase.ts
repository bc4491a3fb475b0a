import { z } from 'zod';
import { Streams } from '../../domain';
import { ExecuteSubjectCommand } from '../commands/commands';
import { jobKind } from './job-kind';
import { pruneSummary } from './prune-summary';
import { count, nonEmptyString, object, pseudonym } from './schema';

/** Destroy every key of one data subject (GDPR erasure). */
export const erasePayload = object({
  erasureId: nonEmptyString(),
  /** The subject's pseudonym. */
  subject: pseudonym(),
});

export const eraseResult = object({
  /** 0 for a redelivered job, which finds the keys gone. */
  keysShredded: count().optional(),
  /** The key vault's word on the subject (e.g. shredded, or already gone). */
  status: z.string().optional(),
  prune: pruneSummary.optional(),
});

export type EraseJobPayload = z.infer<typeof erasePayload>;
export type EraseJobResult = z.infer<typeof eraseResult>;

export const eraseJob = jobKind({
  kind: 'erase',
  payload: erasePayload,
  result: eraseResult,
  requestedBy: ['ErasureRequested'],
  // Keyed by subject: a second erasure of the same subject waits for the first.
  request: (event) => ({
    key: Streams.subject(event.data.subject),
    aggregateId: event.data.erasureId,
    payload: { erasureId: event.data.erasureId, subject: event.data.subject },
  }),
  settledBy: {
    ErasureCompleted: (event) => event.data.erasureId,
    ErasureFailed: (event) => event.data.erasureId,
  },
  start: () => null,
  complete: (job, result): ExecuteSubjectCommand['command'] => ({
    type: 'RecordKeyShredded',
    subject: job.payload.subject,
    erasureId: job.payload.erasureId,
    jobId: job.jobId,
    keysShredded: result.keysShredded ?? 0,
    prune: result.prune ?? null,
  }),
  fail: (job, failure): ExecuteSubjectCommand['command'] => ({
    type: 'FailErasure',
    subject: job.payload.subject,
    erasureId: job.payload.erasureId,
    jobId: job.jobId,
    ...failure,
  }),
  message: (command, context) => new ExecuteSubjectCommand(command, context),
  invalidArgumentReason: () => 'the job is not valid for this repository',
});
