/**
 * The job bus port between the control plane and workers. Adapters: in-process (embedded)
 * and Kafka. Semantics both honour: jobs with the same key (the source id) are handled in
 * order; delivery is at least once (handlers must be idempotent by job id); a handler that
 * throws is retried with backoff, and after the last attempt the job goes to the dead-letter
 * list with the reason; a malformed message goes there too and never stops consumption.
 */
export type JobKind = 'backup' | 'restore' | 'verify' | 'erase' | 'delete';

export interface BackupJobPayload {
  backupId: string;
  sourceId: string;
  path: string;
  full: boolean;
  /** The source's subject rules: files they match are stored under per-subject keys. */
  subjectRules?: string[];
}

export interface RestoreJobPayload {
  restoreId: string;
  backupId: string;
  snapshotId: string;
  target: string;
  include: string[];
  /** An access request: restore only this data subject's files (a pseudonym). */
  subject?: string;
}

export interface VerifyJobPayload {
  backupId: string;
  verificationId: string;
  snapshotId: string;
}

/** Destroy every key of one data subject (GDPR erasure). */
export interface EraseJobPayload {
  erasureId: string;
  /** The subject's pseudonym. */
  subject: string;
}

/** Remove a backup's snapshot from the repository, then prune what nothing uses any more. */
export interface DeleteJobPayload {
  backupId: string;
  deletionId: string;
  snapshotId: string;
}

/** Common fields: `correlationId` ties the job's events to the request that caused it. */
interface JobBase {
  jobId: string;
  key: string;
  attempt: number;
  correlationId?: string;
}

export type Job =
  | (JobBase & { kind: 'backup'; payload: BackupJobPayload })
  | (JobBase & { kind: 'restore'; payload: RestoreJobPayload })
  | (JobBase & { kind: 'verify'; payload: VerifyJobPayload })
  | (JobBase & { kind: 'erase'; payload: EraseJobPayload })
  | (JobBase & { kind: 'delete'; payload: DeleteJobPayload });

export interface JobFailure {
  code: string;
  reason: string;
  retryable: boolean;
}

export interface JobProgress {
  filesDone: number;
  bytesDone: number;
  totalFiles: number;
  totalBytes: number;
}

export type JobStatusMessage =
  | { jobId: string; kind: JobKind; attempt: number; at: string; status: 'started' }
  | { jobId: string; kind: JobKind; attempt: number; at: string; status: 'heartbeat'; progress?: JobProgress }
  | { jobId: string; kind: JobKind; attempt: number; at: string; status: 'completed'; result: Record<string, unknown> }
  | { jobId: string; kind: JobKind; attempt: number; at: string; status: 'failed'; failure: JobFailure };

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
  publishJob(job: Job): Promise<void>;
  /** Worker side: handle jobs; resolves once the consumer is running. */
  consumeJobs(handler: (job: Job) => Promise<void>): Promise<Unsubscribe>;
  publishStatus(status: JobStatusMessage): Promise<void>;
  /** Control-plane side: handle job status messages. */
  consumeStatuses(handler: (status: JobStatusMessage) => Promise<void>): Promise<Unsubscribe>;
  /** Control-plane side: a message every worker receives (not shared out like jobs). */
  publishControl(message: JobControlMessage): Promise<void>;
  /** Worker side: the control messages published from now on. */
  consumeControl(handler: (message: JobControlMessage) => Promise<void>): Promise<Unsubscribe>;
  deadLetters(): Promise<DeadLetter[]>;
  close(): Promise<void>;
}
