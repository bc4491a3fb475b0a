import { Logger } from '@nestjs/common';
import {
  backup,
  BackupSubjectTotals,
  EngineError,
  forget,
  prune,
  Pseudonymiser,
  Repository,
  restore,
  Snapshot,
  subjectsInSnapshot,
  verifySnapshot,
} from '../engine';
import { Clock } from '../application/ports/clock';
import { problemCountsOf, type PruneSummaryData } from '../domain';
import { describeOrigin } from '../application/describe-for-log';
import {
  BackupJobPayload,
  Job,
  JobBus,
  JobFailure,
  JobProgress,
  JobStatusMessage,
  RestoreJobPayload,
  Unsubscribe,
} from '../application/ports/job-bus';
import { RepositoryProvider } from './repository-provider';

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
}

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

/** How many cancelled job ids a worker remembers for jobs it has not started yet. */
const REMEMBERED_CANCELS = 1_000;

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
      const result = await this.run(repository, job, onProgress, controller.signal);
      await this.report({ ...base, at: this.now(), status: 'completed', result });
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

  private async run(
    repository: Repository,
    job: Job,
    onProgress: (p: JobProgress) => void,
    signal: AbortSignal,
  ): Promise<Record<string, unknown>> {
    switch (job.kind) {
      case 'backup':
        return this.runBackup(repository, job.jobId, job.payload, onProgress, signal);
      case 'restore':
        return this.runRestore(repository, job.attempt, job.payload, onProgress);
      case 'verify': {
        const verification = await verifySnapshot(repository, job.payload.snapshotId);
        return { blobsChecked: verification.blobsChecked, bytesChecked: verification.bytesChecked };
      }
      case 'erase': {
        // Idempotent: a redelivered job finds the keys gone and reports 0 destroyed.
        const shredded = await repository.keyVault.shred(job.payload.subject);
        // The subject's blobs can no longer be read; pruning deletes them outright.
        return { keysShredded: shredded.keysShredded, status: shredded.status, prune: await this.pruneIfPossible(repository) };
      }
      case 'delete': {
        // Idempotent: a redelivered job finds the snapshot gone already.
        await forget(repository, [job.payload.snapshotId], { missingOk: true });
        return { prune: await this.pruneIfPossible(repository) };
      }
    }
  }

  private async runBackup(
    repository: Repository,
    jobId: string,
    payload: BackupJobPayload,
    onProgress: (p: JobProgress) => void,
    signal: AbortSignal,
  ): Promise<Record<string, unknown>> {
    const refusal = await this.options.paths.sourceProblem(payload.path);
    // The reason names the rule only: it is recorded in the event, and the paths are the setting's.
    if (refusal !== null) throw new JobRefused('SOURCE_FORBIDDEN', `the source folder is refused (${refusal.rule}); nothing was backed up`);
    const jobTag = `job:${jobId}`;
    // A damaged snapshot (of any source) must not stop backups; check reports it.
    const earlier = (await repository.listSnapshots(() => undefined)).find((stored) => stored.snapshot.tags.includes(jobTag));
    let id: string;
    let snapshot: Snapshot;
    let subjects: BackupSubjectTotals[];
    if (earlier) {
      ({ id, snapshot } = earlier);
      // Which keys that attempt created is not recorded in the snapshot: counted as none.
      const held = snapshot.subjectRules?.length
        ? await repository.withCurrentIndex(() => subjectsInSnapshot(repository, snapshot.tree))
        : new Map();
      subjects = [...held].map(([pseudonym, { files, bytes }]) => ({ pseudonym, files, bytes, keyCreated: false }));
    } else {
      const result = await backup(repository, payload.path, {
        full: payload.full,
        tags: [jobTag, `backup:${payload.backupId}`],
        onProgress,
        signal,
        subjects: this.subjectsFor(payload.subjectRules),
      });
      ({ snapshotId: id, snapshot, subjects } = result);
    }
    const s = snapshot.statistics;
    return {
      snapshotId: id,
      merkleRoot: snapshot.merkleRoot,
      statistics: {
        files: s.files,
        directories: s.directories,
        bytesRead: s.bytesRead,
        totalBytes: s.totalBytes,
        newBytes: s.newBytes,
        storedBytes: s.storedBytes,
        duplicateBytes: s.duplicateBytes,
        chunks: s.chunks,
        durationMs: s.durationMs,
        errors: s.errors,
        // Counts by reason only: the paths stay in the encrypted snapshot.
        problems: problemCountsOf(s.problems),
      },
      ...(snapshot.subjectRules?.length && {
        subjects: subjects.map(({ pseudonym, files, bytes, keyCreated }) => ({ subject: pseudonym, files, bytes, keyCreated })),
      }),
    };
  }

  private async runRestore(
    repository: Repository,
    attempt: number,
    payload: RestoreJobPayload,
    onProgress: (p: JobProgress) => void,
  ): Promise<Record<string, unknown>> {
    const within = await this.options.paths.restoreRootOf(payload.target);
    if (within === null) {
      throw new JobRefused('TARGET_OUTSIDE_RESTORE_ROOTS', 'the restore target is not inside a restore root (RESTORE_ROOTS) once resolved');
    }
    // The target was checked to be new or empty when the restore was requested; a later
    // attempt finds the first attempt's partial files there and replaces them.
    const result = await restore(repository, payload.snapshotId, payload.target, {
      within,
      include: payload.include,
      overwrite: attempt > 1,
      onProgress,
      ...(payload.subject !== undefined && { onlySubject: payload.subject }),
    });
    if (result.errors.length > 0) {
      throw new EngineError(
        'BLOB_DAMAGED',
        `${result.errors.length} file(s) could not be restored from snapshot ${payload.snapshotId.slice(0, 8)}`,
      );
    }
    return {
      files: result.files,
      bytes: result.bytes,
      skippedErased: { files: result.skippedErased.files, bytes: result.skippedErased.bytes },
      // Counts only: the paths may name people, and job results travel in events and logs.
      ...(result.metadataErrors.length > 0 && { metadataNotRestored: result.metadataErrors.length }),
    };
  }

  /**
   * Housekeeping after a deletion or an erasure, which are complete without it (the snapshot is
   * gone, the keys are destroyed). Prune needs the repository to itself: when a backup or
   * restore holds it, or check finds damage to repair first, a later prune frees the data.
   */
  private async pruneIfPossible(repository: Repository): Promise<PruneSummaryData | null> {
    try {
      const result = await prune(repository);
      return {
        blobsRemoved: result.blobs.removed,
        erasedBlobsRemoved: result.blobs.erasedRemoved,
        bytesFreed: result.bytes.before - result.bytes.after,
      };
    } catch (error) {
      const detail = error instanceof EngineError ? error.code : describeOrigin(error);
      this.logger.warn(`prune did not run (${detail}); a later prune frees the data`);
      return null;
    }
  }

  private subjectsFor(rules: string[] | undefined): { rules: string[]; pseudonymise: Pseudonymiser } | undefined {
    if (!rules || rules.length === 0) return undefined;
    if (!this.options.pseudonymise) {
      throw new EngineError('PSEUDONYM_SECRET_MISSING', 'the source has subject rules but this worker has no pseudonymisation secret');
    }
    return { rules, pseudonymise: this.options.pseudonymise };
  }

  private report(status: JobStatusMessage): Promise<void> {
    return this.bus.publishStatus(status);
  }

  private now(): string {
    return this.clock.now().toISOString();
  }
}

function toFailure(error: unknown, job: Job): JobFailure {
  if (error instanceof JobRefused) return { code: error.code, reason: error.message, retryable: false };
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
      return (job.kind === 'restore' && includeReason(error.message, job.payload.include)) || invalidArgumentReason(job);
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

function invalidArgumentReason(job: Job): string {
  switch (job.kind) {
    case 'backup':
      return 'the source is neither a folder nor a file, or a subject rule of the source is invalid';
    case 'restore':
      return 'the restore request is not valid for this snapshot (its include paths or data subject)';
    default:
      return 'the job is not valid for this repository';
  }
}

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
