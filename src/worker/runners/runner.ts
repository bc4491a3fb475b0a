import type { Pseudonymiser, Repository } from '../../engine';
import type { JobKind, JobOfKind, JobResult } from '../../application/jobs';
import type { JobProgress } from '../../application/ports/job-bus';

/**
 * The confinement rules a job's paths are checked against as the job starts (the API checked
 * them when the source was registered and the restore requested, but a folder may have been
 * swapped for a symlink since).
 */
export interface JobPaths {
  /** null if the folder may be backed up; otherwise the rule it breaks (code SOURCE_FORBIDDEN). */
  sourceProblem(path: string): Promise<{ rule: string } | null>;
  /** The restore root (RESTORE_ROOTS) holding the target once resolved; null when none does. */
  restoreRootOf(target: string): Promise<string | null>;
}

export interface WorkerOptions {
  heartbeatIntervalMs: number;
  paths: JobPaths;
  /** Turns a data subject's external id (a path component) into its pseudonym; needed by subject rules. */
  pseudonymise?: Pseudonymiser;
  /** Named in every status message (WORKER_ID; host:pid by default), so each attempt says which worker ran it. */
  workerId?: string;
}

/**
 * A job whose paths the confinement rules refuse at its start: nothing is read or written, and
 * retrying cannot help (the failure is permanent).
 */
export class JobRefused extends Error {
  constructor(
    readonly code: 'SOURCE_FORBIDDEN' | 'TARGET_OUTSIDE_RESTORE_ROOTS',
    message: string,
  ) {
    super(message);
    this.name = 'JobRefused';
  }
}

/** What the worker hands a runner besides the job: the repository, progress reporting, the stop switch. */
export interface RunContext {
  repository: Repository;
  onProgress(progress: JobProgress): void;
  signal: AbortSignal;
  options: WorkerOptions;
}

/**
 * Runs one kind of job on the engine and returns its result, typed by the kind's result schema
 * (src/application/jobs/<kind>.ts), which the control plane checks it against. Errors are the
 * worker's to map to failures (JobWorker: codes, public reasons, retryability).
 */
export type JobRunner<K extends JobKind> = (job: JobOfKind<K>, context: RunContext) => Promise<JobResult<K>>;
