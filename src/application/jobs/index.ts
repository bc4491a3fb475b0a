import type { z } from 'zod';
import { backupJob } from './backup';
import { deleteJob } from './delete';
import { eraseJob } from './erase';
import { JobKindDescriptor, JobOf } from './job-kind';
import { restoreJob } from './restore';
import { verifyJob } from './verify';

/**
 * Every kind of job the control plane hands out, keyed by kind. Adding a kind: a descriptor
 * file here (src/application/jobs/<kind>.ts), its entry in this table, and its runner in
 * src/worker/runners/<kind>.runner.ts.
 */
export const JOB_KINDS = {
  backup: backupJob,
  restore: restoreJob,
  verify: verifyJob,
  erase: eraseJob,
  delete: deleteJob,
} as const;

type Table = typeof JOB_KINDS;
export type JobKind = keyof Table;
export type JobPayload<K extends JobKind> = z.output<Table[K]['payload']>;
export type JobResult<K extends JobKind> = z.output<Table[K]['result']>;
export type JobCommand<K extends JobKind> = ReturnType<Table[K]['fail']>;

/** A job of one kind, its payload typed by the kind. */
export type JobOfKind<K extends JobKind> = JobOf<K, JobPayload<K>>;
/** A job on the bus: a union keyed by kind. */
export type Job = { [K in JobKind]: JobOfKind<K> }[JobKind];

export const JOB_KIND_NAMES = Object.keys(JOB_KINDS) as JobKind[];

/**
 * The descriptor of a kind, with its types erased to what every kind shares: for code (the
 * process manager, the worker) that handles any kind by looking it up.
 */
export type AnyJobKind = JobKindDescriptor<JobKind, unknown, unknown, unknown>;
export function descriptorOf(kind: JobKind): AnyJobKind {
  return JOB_KINDS[kind] as unknown as AnyJobKind;
}

export * from './backup';
export * from './delete';
export * from './erase';
export * from './job-kind';
export * from './prune-summary';
export * from './restore';
export * from './verify';
