import { Logger } from '@nestjs/common';
import { EngineError, isStorageFull, STORAGE_FULL } from '../engine';
import { Clock } from '../application/ports/clock';
import { describeOrigin } from '../application/describe-for-log';
import { descriptorOf, JobKind, JobOfKind, JobResult } from '../application/jobs';
import { Job, JobBus, JobFailure, JobProgress, JobStatusMessageOf, ReceivedJobStatus, Unsubscribe } from '../application/ports/job-bus';
import { RepositoryProvider } from './repository-provider';
import { JobRefused, RUNNERS, RunContext, WorkerOptions } from './runners';

export { JobRefused, type JobPaths, type WorkerOptions } from './runners';

/** Engine errors caused by the input: retrying cannot help. Anything else (I/O) may be passing. */
const PERMANENT_CODES = new Set([
  'PSEUDONYM_SECRET_MISSING',
  'SOURCE_NOT_FOUND',
  'INVALID_ARGUMENT',
  'SNAPSHOT_NOT_FOUND',
  'UNSAFE_PATH',
  'TARGET_NOT_DIRECTORY',
  'TARGET_NOT_EMPTY',
  'BLOB_DAMAGED',
  'BLOB_NOT_FOUND',
  'PACK_MISSING',
  'WRONG_PASSPHRASE',
  'REPO_NOT_FOUND',
  'REPO_NOT_INITIALISED',
  'CANCELLED',
]);

/** How many cancelled job ids a worker remembers for jobs it has not started yet. */
const REMEMBERED_CANCELS = 1_000;
/** How many finished jobs' results a worker remembers, to answer a redelivered copy with them. */
const REMEMBERED_RESULTS = 1_000;

/**
 * The data plane's worker: takes jobs from the bus, runs the engine, and reports started,
 * heartbeats with progress, and the result. Idempotent by job id: a backup job whose snapshot
 * is already in the repository (tagged with the job id) reports that snapshot instead of
 * backing up again, so a redelivered job never makes a second backup.
 */
export class JobWorker {
  private readonly logger = new Logger(JobWorker.name);
  private unsubscribe: Unsubscribe | null = null;
  private unsubscribeControl: Unsubscribe | null = null;
  /** Jobs this worker is running, each with the switch that stops it. */
  private readonly running = new Map<string, AbortController>();
  /** Cancelled jobs it was not running: one may still be queued behind another job. */
  private readonly cancelled = new Set<string>();
  /** Results of the jobs it completed lately, by job id: what a redelivered copy reports. */
  private readonly results = new Map<string, unknown>();

  constructor(
    private readonly bus: JobBus,
    private readonly repositories: RepositoryProvider,
    private readonly clock: Clock,
    private readonly options: WorkerOptions,
  ) {}

  async start(): Promise<void> {
    this.unsubscribeControl = await this.bus.consumeControl(async (message) => this.cancel(message.jobId));
    this.unsubscribe = await this.bus.consumeJobs((job) => this.handle(job));
  }

  async stop(): Promise<void> {
    await this.unsubscribe?.();
    await this.unsubscribeControl?.();
    this.unsubscribe = null;
    this.unsubscribeControl = null;
  }

  /** The jobs running here now. */
  get runningJobIds(): string[] {
    return [...this.running.keys()];
  }

  /** Stops the job if it runs here (the engine stops at its next file or chunk), else remembers it. */
  cancel(jobId: string): void {
    const controller = this.running.get(jobId);
    if (controller) {
      this.logger.log(`job ${jobId} cancelled: stopping it`);
      controller.abort();
      return;
    }
    this.cancelled.add(jobId);
    if (this.cancelled.size > REMEMBERED_CANCELS) this.cancelled.delete(this.cancelled.values().next().value as string);
  }

  async handle(job: Job): Promise<void> {
    const base = { jobId: job.jobId, kind: job.kind, attempt: job.attempt };
    if (this.cancelled.has(job.jobId)) {
      const failure = { code: 'CANCELLED', reason: 'the job was cancelled before it started', retryable: false };
      await this.report({ ...base, at: this.now(), status: 'failed', failure });
      return;
    }
    // A copy of a job delivered again (the bus is at least once) runs once on this worker: while
    // the first runs, the copy is dropped (the first reports); once it completed, the copy reports
    // its result. A restore would otherwise find its own files in the target and fail.
    if (this.running.has(job.jobId)) {
      this.logger.warn(`job ${job.jobId} delivered again while it runs here; the running copy reports`);
      return;
    }
    if (this.results.has(job.jobId)) {
      await this.report({
        ...base,
        at: this.now(),
        status: 'completed',
        result: this.results.get(job.jobId),
      } as JobStatusMessageOf<JobKind>);
      return;
    }
    const controller = new AbortController();
    this.running.set(job.jobId, controller);
    await this.report({ ...base, at: this.now(), status: 'started' });
    let progress: JobProgress | undefined;
    const heartbeat = setInterval(() => {
      this.report({ ...base, at: this.now(), status: 'heartbeat', progress }).catch(() => undefined);
    }, this.options.heartbeatIntervalMs);
    try {
      // Each engine operation reloads the index itself once it holds the repository lock.
      const repository = await this.repositories.repository();
      const onProgress = (p: JobProgress) =>
        (progress = { filesDone: p.filesDone, bytesDone: p.bytesDone, totalFiles: p.totalFiles, totalBytes: p.totalBytes });
      await this.runAndReport(job, { repository, onProgress, signal: controller.signal, options: this.options });
    } catch (error) {
      const failure = toFailure(error, job);
      // An engine error's code says enough; anything else is a bug or an outage: say where it came from.
      const detail = error instanceof EngineError || error instanceof JobRefused ? '' : ` (${describeOrigin(error)})`;
      this.logger.warn(`job ${job.jobId} attempt ${job.attempt} failed: ${failure.code}${detail}`);
      await this.report({ ...base, at: this.now(), status: 'failed', failure });
    } finally {
      clearInterval(heartbeat);
      this.running.delete(job.jobId);
    }
  }

  /** Runs the job with its kind's runner (src/worker/runners) and reports that kind's result. */
  private async runAndReport<K extends JobKind>(job: JobOfKind<K>, context: RunContext): Promise<void> {
    const result: JobResult<K> = await RUNNERS[job.kind](job, context);
    this.results.set(job.jobId, result);
    if (this.results.size > REMEMBERED_RESULTS) this.results.delete(this.results.keys().next().value as string);
    const completed: JobStatusMessageOf<K> = {
      jobId: job.jobId,
      kind: job.kind,
      attempt: job.attempt,
      at: this.now(),
      status: 'completed',
      result,
    };
    await this.report(completed);
  }

  private report<K extends JobKind>(status: JobStatusMessageOf<K>): Promise<void> {
    const worker = this.options.workerId;
    return this.bus.publishStatus({ ...status, ...(worker !== undefined && { worker }) } as ReceivedJobStatus);
  }

  private now(): string {
    return this.clock.now().toISOString();
  }
}

function toFailure(error: unknown, job: Job): JobFailure {
  if (error instanceof JobRefused) return { code: error.code, reason: error.message, retryable: false };
  if (isStorageFull(error)) {
    // Not damage: what was written is whole or unreferenced; the job can run again once there is space.
    return {
      code: STORAGE_FULL,
      reason: "the repository's or the worker's storage is full; free space and the job is retried",
      retryable: true,
    };
  }
  if (error instanceof EngineError) {
    // Engine messages may name files inside the source: keep them out of events.
    return { code: error.code, reason: publicReason(error, job), retryable: !PERMANENT_CODES.has(error.code) };
  }
  return { code: 'WORKER_ERROR', reason: 'the worker failed unexpectedly; see the worker log', retryable: true };
}

/**
 * What the job's events (and so the API) say about an engine error: a sentence a user can act
 * on, holding nothing read from the repository or the file system (names inside a source can
 * be personal data). Only what the request itself carried (a restore's include paths, the
 * snapshot id) is ever quoted.
 */
export function publicReason(error: EngineError, job: Job): string {
  switch (error.code) {
    case 'INVALID_ARGUMENT':
      return descriptorOf(job.kind).invalidArgumentReason(job, error.message);
    case 'SNAPSHOT_NOT_FOUND':
      return `snapshot ${snapshotOf(job)} is not in the repository (deleted, or this worker uses another repository)`;
    case 'SNAPSHOT_DAMAGED':
      return `snapshot ${snapshotOf(job)} is damaged in the repository; run custodia check`;
    case 'SOURCE_NOT_FOUND':
      return 'the source folder does not exist';
    case 'CANCELLED':
      return 'the backup was cancelled; no snapshot was written';
    case 'TARGET_NOT_EMPTY':
      return 'the restore target is not empty';
    case 'TARGET_NOT_DIRECTORY':
      return 'the restore target is not a directory';
    case 'UNSAFE_PATH':
      return 'the snapshot holds an unsafe name, or a symlink or file lies in the restore target; nothing was written outside the target';
    case 'TARGET_CHANGED':
      return 'the restore target was changed by something else while the restore ran';
    case 'BLOB_DAMAGED':
    case 'PACK_MISSING':
    case 'BLOB_NOT_FOUND':
    case 'PACK_DAMAGED':
    case 'INDEX_DAMAGED':
      return 'repository data is damaged or missing; run custodia check --read-data';
    case 'SUBJECT_ERASED':
      return "a data subject's data was erased and cannot be read";
    case 'SUBJECT_KEY_MISSING':
      return "a data subject's key is missing from the key vault (lost, not erased); run custodia check";
    case 'PSEUDONYM_SECRET_MISSING':
      return 'the worker has no pseudonymisation secret, or not the one the repository was set up with (CUSTODIA_PSEUDONYM_SECRET)';
    case 'REPO_LOCKED':
      return 'another operation (a prune) held the repository for too long';
    case 'WRONG_PASSPHRASE':
      return "the worker's passphrase does not open the repository";
    case 'REPO_NOT_FOUND':
    case 'REPO_NOT_INITIALISED':
      return "the worker's repository does not exist or is not initialised";
    case 'REPO_DAMAGED':
      return 'the repository is damaged; run custodia check';
    case 'IO_ERROR':
      return 'the worker met an I/O error on the source, the target or the repository storage';
    default:
      return `the engine stopped with ${error.code}`;
  }
}

function snapshotOf(job: Job): string {
  return 'snapshotId' in job.payload ? job.payload.snapshotId.slice(0, 12) : 'of the job';
}
