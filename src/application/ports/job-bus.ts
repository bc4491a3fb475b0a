/**
 * The job bus port between the control plane and workers. Adapters: in-process (embedded)
 * and Kafka. Semantics both honour: jobs with the same key (the source id) are handled in
 * order; delivery is at least once (handlers must be idempotent by job id); a handler that
 * throws is retried with backoff, and after the last attempt the job goes to the dead-letter
 * list with the reason; a malformed message goes there too and never stops consumption.
 */
import type { Job, JobKind, JobResult } from '../jobs';
import type { JobFailure } from '../jobs/job-kind';

// The jobs themselves, their payloads and results are declared by kind in src/application/jobs.
export type {
  BackupJobPayload,
  DeleteJobPayload,
  EraseJobPayload,
  Job,
  JobKind,
  JobOfKind,
  JobPayload,
  JobResult,
  RestoreJobPayload,
  VerifyJobPayload,
} from '../jobs';
export type { JobFailure } from '../jobs/job-kind';

export interface JobProgress {
  filesDone: number;
  bytesDone: number;
  totalFiles: number;
  totalBytes: number;
}

interface StatusBase<K extends JobKind> {
  jobId: string;
  kind: K;
  attempt: number;
  at: string;
  /** Which worker speaks (its WORKER_ID); absent from workers of older builds. */
  worker?: string;
}

/**
 * A worker's word on a job, keyed by kind. As published, a completed job carries its kind's
 * result (`R` defaults to JobResult<K>).
 */
export type JobStatusMessageOf<K extends JobKind, R = JobResult<K>> =
  | (StatusBase<K> & { status: 'started' })
  | (StatusBase<K> & { status: 'heartbeat'; progress?: JobProgress })
  | (StatusBase<K> & { status: 'completed'; result: R })
  | (StatusBase<K> & { status: 'failed'; failure: JobFailure });

export type JobStatusMessage = { [K in JobKind]: JobStatusMessageOf<K> }[JobKind];

/**
 * A status message as received. The buses check its envelope; the result crossed a process
 * boundary in the Kafka mode, so it is `unknown` until the process manager checks it against its
 * kind's result schema and fails the job with JOB_RESULT_INVALID when it does not fit (a bad
 * result is the job's failure, not the bus's).
 */
export type ReceivedJobStatus = { [K in JobKind]: JobStatusMessageOf<K, unknown> }[JobKind];

export interface DeadLetter {
  message: unknown;
  reason: string;
  at: string;
}

/**
 * A message to every worker: stop a job if you are running it (its backup was cancelled). A
 * worker that is not running it remembers the id for a while, in case the job is still queued.
 */
export interface JobControlMessage {
  jobId: string;
  action: 'cancel';
  at: string;
}

export type Unsubscribe = () => Promise<void>;

export interface JobBus {
  /**
   * Whether jobs published but not yet taken outlive this process (a broker keeps them). When
   * not, the jobs queued at a stop are published again at the next start.
   */
  readonly keepsQueuedJobs: boolean;
  publishJob(job: Job): Promise<void>;
  /** Worker side: handle jobs; resolves once the consumer is running. */
  consumeJobs(handler: (job: Job) => Promise<void>): Promise<Unsubscribe>;
  /** Takes what the worker reports; the buses check the envelope, never the result (see ReceivedJobStatus). */
  publishStatus(status: ReceivedJobStatus): Promise<void>;
  /** Control-plane side: handle job status messages. */
  consumeStatuses(handler: (status: ReceivedJobStatus) => Promise<void>): Promise<Unsubscribe>;
  /** Control-plane side: a message every worker receives (not shared out like jobs). */
  publishControl(message: JobControlMessage): Promise<void>;
  /** Worker side: the control messages published from now on. */
  consumeControl(handler: (message: JobControlMessage) => Promise<void>): Promise<Unsubscribe>;
  deadLetters(): Promise<DeadLetter[]>;
  close(): Promise<void>;
}
