import { Inject, Injectable, Logger } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import {
  backupDecider,
  BackupStatisticsData,
  isDeletionPending,
  problemCountsOf,
  PruneSummaryData,
  sourceDecider,
  Streams,
} from '../../domain';
import { AggregateStore } from '../aggregate-store';
import { executeUnlessMovedOn, ExecuteBackupCommand, ExecuteRestoreCommand, ExecuteSubjectCommand } from '../commands/commands';
import { CommandContext, deterministicUuid, toDomainEvent } from '../event-envelope';
import { Clock } from '../ports/clock';
import { EventStore, RecordedEvent } from '../ports/event-store';
import { Job, JobBus, JobFailure, JobStatusMessage } from '../ports/job-bus';
import { delayBeforeRetry, mayRetry, RetryPolicy } from '../retry';
import { OrchestrationSettings } from '../settings';
import { CLOCK, EVENT_STORE, JOB_BUS, SETTINGS } from '../tokens';
import { JobTracker, TrackedJob } from './job-tracker';

const ACTOR = 'system:jobs';

/**
 * The process manager between the event log and the workers. It reacts to requests in the log
 * (driven by a durable subscription, so no reaction is lost) by handing out jobs whose ids derive
 * from the requesting event, and to job status messages by issuing commands on the CommandBus.
 * Jobs not heard from in time are retried, then failed with a reason.
 */
@Injectable()
export class JobsProcessManager {
  private readonly logger = new Logger(JobsProcessManager.name);
  private readonly aggregates: AggregateStore;
  private readonly retryTimers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly commands: CommandBus,
    private readonly tracker: JobTracker,
    @Inject(EVENT_STORE) events: EventStore,
    @Inject(JOB_BUS) private readonly bus: JobBus,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(SETTINGS) private readonly settings: OrchestrationSettings,
  ) {
    this.aggregates = new AggregateStore(events);
  }

  /** Reacts to one event of the global log. Safe to call again for the same event. */
  async handleEvent(recorded: RecordedEvent): Promise<void> {
    const event = toDomainEvent(recorded);
    const correlationId = recorded.metadata.correlationId;
    switch (event.type) {
      case 'BackupRequested': {
        const { state: source } = await this.aggregates.load(sourceDecider, Streams.source(event.data.sourceId));
        if (source.status === 'none') return;
        const job: Job = {
          jobId: `backup-${recorded.id}`,
          kind: 'backup',
          key: event.data.sourceId,
          attempt: 1,
          correlationId,
          payload: {
            backupId: event.data.backupId,
            sourceId: event.data.sourceId,
            path: source.path,
            full: event.data.backupType === 'full',
            ...(source.subjectRules.length > 0 && { subjectRules: source.subjectRules }),
          },
        };
        return this.dispatch(job, event.data.backupId);
      }
      case 'RestoreRequested':
        return this.dispatch(
          {
            jobId: `restore-${recorded.id}`,
            kind: 'restore',
            key: event.data.sourceId,
            attempt: 1,
            correlationId,
            payload: {
              restoreId: event.data.restoreId,
              backupId: event.data.backupId,
              snapshotId: event.data.snapshotId,
              target: event.data.target,
              include: event.data.include,
              ...(event.data.subject !== undefined && { subject: event.data.subject }),
            },
          },
          event.data.restoreId,
        );
      case 'BackupVerificationRequested': {
        const { state: backup } = await this.aggregates.load(backupDecider, Streams.backup(event.data.backupId));
        if (backup.status === 'none' || !backup.snapshotId) return;
        return this.dispatch(
          {
            jobId: `verify-${recorded.id}`,
            kind: 'verify',
            key: backup.sourceId,
            attempt: 1,
            correlationId,
            payload: { backupId: event.data.backupId, verificationId: event.data.verificationId, snapshotId: backup.snapshotId },
          },
          event.data.verificationId,
        );
      }
      case 'ErasureRequested':
        // Keyed by subject: a second erasure of the same subject waits for the first.
        return this.dispatch(
          {
            jobId: `erase-${recorded.id}`,
            kind: 'erase',
            key: Streams.subject(event.data.subject),
            attempt: 1,
            correlationId,
            payload: { erasureId: event.data.erasureId, subject: event.data.subject },
          },
          event.data.erasureId,
        );
      case 'BackupDeletionRequested': {
        const { state: backup } = await this.aggregates.load(backupDecider, Streams.backup(event.data.backupId));
        if (backup.status === 'none' || !isDeletionPending(backup, event.data.deletionId)) return; // settled since (a replay)
        return this.dispatch(
          {
            jobId: `delete-${recorded.id}`,
            kind: 'delete',
            key: backup.sourceId,
            attempt: 1,
            correlationId,
            payload: { backupId: event.data.backupId, deletionId: event.data.deletionId, snapshotId: event.data.snapshotId },
          },
          event.data.deletionId,
        );
      }
      case 'BackupDeleted':
      case 'BackupDeletionFailed':
        return this.closeJobsFor(event.data.deletionId);
      case 'ErasureCompleted':
      case 'ErasureFailed':
        return this.closeJobsFor(event.data.erasureId);
      case 'BackupCancelled':
        // Workers are told to stop the job. One that finishes first anyway has its snapshot
        // discarded (discardLateSnapshot), so a cancel never leaves a snapshot behind.
        return this.closeJobsFor(event.data.backupId, (tracked) =>
          this.bus.publishControl({ jobId: tracked.job.jobId, action: 'cancel', at: this.now() }),
        );
      case 'BackupCompleted':
      case 'BackupFailed':
        return this.closeJobsFor(event.data.backupId);
      case 'RestoreCompleted':
      case 'RestoreFailed':
        return this.closeJobsFor(event.data.restoreId);
      case 'BackupVerified':
      case 'BackupVerificationFailed':
        return this.closeJobsFor(event.data.verificationId);
      default:
        return;
    }
  }

  /** Reacts to a worker's status message. Safe to call again for the same message. */
  async handleStatus(status: JobStatusMessage): Promise<void> {
    const tracked = await this.tracker.get(status.jobId);
    if (!tracked) return; // unknown
    if (tracked.status === 'done') {
      // Already settled: a late duplicate, or a backup that was cancelled or failed while a worker
      // went on and wrote a snapshot. That snapshot must not stay behind, unlisted.
      if (status.status === 'completed') await this.discardLateSnapshot(tracked, status);
      return;
    }
    const now = this.now();
    const current = status.attempt === tracked.job.attempt;
    switch (status.status) {
      case 'started':
        // An earlier attempt that starts late still counts as the backup starting; the decider
        // ignores it once a later attempt has been recorded.
        if (current) await this.tracker.markRunning(status.jobId, now);
        await this.issue(tracked, status, startCommand(tracked, status.attempt));
        return;
      case 'heartbeat':
        if (current) await this.tracker.touch(status.jobId, now, status.progress);
        return;
      case 'completed':
        // A result from an earlier attempt is still a result: the work was done.
        if (!(await this.issue(tracked, status, completeCommand(tracked, status.result)))) await this.discardLateSnapshot(tracked, status);
        await this.tracker.markDone(status.jobId, now);
        return;
      case 'failed':
        if (!current) return;
        return this.failOrRetry(tracked, status.failure, `job:${status.jobId}:${status.attempt}:failed`);
    }
  }

  /** Retries or fails every open job not heard from within the heartbeat timeout. */
  async superviseOpenJobs(): Promise<void> {
    const before = new Date(this.clock.now().getTime() - this.settings.jobHeartbeatTimeoutMs).toISOString();
    for (const tracked of await this.tracker.open(before)) {
      const seconds = Math.round(this.settings.jobHeartbeatTimeoutMs / 1000);
      await this.failOrRetry(
        tracked,
        { code: 'JOB_TIMEOUT', reason: `no word from a worker for ${seconds} s (attempt ${tracked.job.attempt})`, retryable: true },
        `job:${tracked.job.jobId}:${tracked.job.attempt}:timeout`,
      );
    }
  }

  /**
   * After a restart of the embedded service, jobs that were open died with the old process:
   * hand each out again (a new attempt) right away instead of waiting for the timeout.
   */
  async recoverOpenJobs(): Promise<number> {
    const open = await this.tracker.open();
    for (const tracked of open) {
      await this.failOrRetry(
        tracked,
        { code: 'WORKER_LOST', reason: `the service stopped during attempt ${tracked.job.attempt}`, retryable: true },
        `job:${tracked.job.jobId}:${tracked.job.attempt}:lost`,
        0,
      );
    }
    return open.length;
  }

  stop(): void {
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
  }

  private async dispatch(job: Job, aggregateId: string): Promise<void> {
    const isNew = await this.tracker.record(job, aggregateId, this.now());
    if (!isNew) {
      // A redelivered request: publish again only if the job never settled (the worker is idempotent by job id).
      const tracked = await this.tracker.get(job.jobId);
      if (!tracked || tracked.status !== 'dispatched') return;
      return this.bus.publishJob(tracked.job);
    }
    await this.bus.publishJob(job);
  }

  private async failOrRetry(tracked: TrackedJob, failure: JobFailure, cause: string, delayOverrideMs?: number): Promise<void> {
    const { job } = tracked;
    const policy = jobRetryPolicy(this.settings);
    if (failure.retryable && mayRetry(policy, job.attempt)) {
      const next = { ...job, attempt: job.attempt + 1 } as Job;
      await this.tracker.markDispatched(job.jobId, next.attempt, this.now());
      const delay = delayOverrideMs ?? delayBeforeRetry(policy.backoff, job.attempt);
      this.logger.warn(`job ${job.jobId} attempt ${job.attempt} failed (${failure.code}); retrying as attempt ${next.attempt}`);
      this.later(delay, () => this.bus.publishJob(next));
      return;
    }
    await this.issue(tracked, { jobId: job.jobId, attempt: job.attempt, cause }, failCommand(tracked, failure));
    await this.tracker.markDone(job.jobId, this.now());
  }

  /**
   * A backup job's result the backup no longer takes (it was cancelled, or failed after its last
   * attempt timed out): the snapshot is deleted again, recorded as a deletion with reason
   * `discard`. The deletion id derives from the snapshot, so a repeated report asks once.
   */
  private async discardLateSnapshot(tracked: TrackedJob, status: Extract<JobStatusMessage, { status: 'completed' }>): Promise<void> {
    const { job } = tracked;
    const snapshotId = status.result.snapshotId;
    if (job.kind !== 'backup' || typeof snapshotId !== 'string' || snapshotId === '') return;
    const { backupId } = job.payload;
    const deletionId = deterministicUuid(`discard:${backupId}:${snapshotId}`);
    const accepted = await this.issue(
      tracked,
      { ...status, status: 'discard' },
      { type: 'DiscardSnapshot', backupId, deletionId, snapshotId },
    );
    // Refused: a duplicate report for a backup that did complete with it; nothing to discard.
    if (accepted) this.logger.warn(`backup ${backupId} ended before its job ${job.jobId} did; discarding the snapshot that job wrote`);
  }

  /** Issues the command; false when the aggregate refused it as an invalid transition. */
  private async issue(
    tracked: TrackedJob,
    origin: { jobId: string; attempt: number; status?: string; cause?: string },
    command: JobCommand | null,
  ): Promise<boolean> {
    if (!command) return true;
    const context: CommandContext = {
      actor: ACTOR,
      correlationId: tracked.job.correlationId ?? tracked.job.jobId,
      causationId: origin.cause ?? `job:${origin.jobId}:${origin.attempt}:${origin.status ?? ''}`,
    };
    // Refused when the aggregate has moved on (cancelled, or already settled by a duplicate).
    return executeUnlessMovedOn(this.commands, commandMessage(tracked.job, command, context));
  }

  /** Marks the aggregate's open jobs done, after `before` (e.g. telling the workers to stop them). */
  private async closeJobsFor(aggregateId: string, before?: (tracked: TrackedJob) => Promise<void>): Promise<void> {
    for (const tracked of await this.tracker.openFor(aggregateId)) {
      await before?.(tracked);
      await this.tracker.markDone(tracked.job.jobId, this.now());
    }
  }

  private later(delayMs: number, action: () => Promise<void>): void {
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      action().catch(() => this.logger.error('re-dispatch failed; the supervisor will try again'));
    }, delayMs);
    timer.unref();
    this.retryTimers.add(timer);
  }

  private now(): string {
    return this.clock.now().toISOString();
  }
}

/** A job failing with a retryable reason is handed out again, up to jobMaxAttempts, the wait doubling from jobRetryBaseDelayMs. */
function jobRetryPolicy(settings: OrchestrationSettings): RetryPolicy {
  return { maxAttempts: settings.jobMaxAttempts, backoff: { kind: 'exponential', initialMs: settings.jobRetryBaseDelayMs } };
}

type JobCommand = ExecuteBackupCommand['command'] | ExecuteRestoreCommand['command'] | ExecuteSubjectCommand['command'];

/** The CommandBus message for a job's command: each job kind acts on one aggregate type. */
function commandMessage(job: Job, command: JobCommand, context: CommandContext) {
  switch (job.kind) {
    case 'restore':
      return new ExecuteRestoreCommand(command as ExecuteRestoreCommand['command'], context);
    case 'erase':
      return new ExecuteSubjectCommand(command as ExecuteSubjectCommand['command'], context);
    default:
      return new ExecuteBackupCommand(command as ExecuteBackupCommand['command'], context);
  }
}

function startCommand(tracked: TrackedJob, attempt: number): JobCommand | null {
  const { job } = tracked;
  if (job.kind === 'backup') return { type: 'StartBackup', backupId: job.payload.backupId, jobId: job.jobId, attempt };
  if (job.kind === 'restore') return { type: 'StartRestore', restoreId: job.payload.restoreId, jobId: job.jobId, attempt };
  return null;
}

function completeCommand(tracked: TrackedJob, result: Record<string, unknown>): JobCommand {
  const { job } = tracked;
  switch (job.kind) {
    case 'backup':
      return {
        type: 'CompleteBackup',
        backupId: job.payload.backupId,
        jobId: job.jobId,
        snapshotId: String(result.snapshotId),
        merkleRoot: String(result.merkleRoot),
        statistics: statisticsOf(result.statistics),
        ...(Array.isArray(result.subjects) && { subjects: result.subjects as never }),
      };
    case 'restore':
      return {
        type: 'CompleteRestore',
        restoreId: job.payload.restoreId,
        jobId: job.jobId,
        files: Number(result.files),
        bytes: Number(result.bytes),
        ...(isCounts(result.skippedErased) && { skippedErased: result.skippedErased }),
      };
    case 'verify':
      return {
        type: 'RecordVerification',
        backupId: job.payload.backupId,
        verificationId: job.payload.verificationId,
        outcome: 'verified',
        blobsChecked: Number(result.blobsChecked),
        bytesChecked: Number(result.bytesChecked),
      };
    case 'delete':
      return {
        type: 'RecordBackupDeleted',
        backupId: job.payload.backupId,
        deletionId: job.payload.deletionId,
        jobId: job.jobId,
        prune: pruneSummaryOf(result.prune),
      };
    case 'erase':
      return {
        type: 'RecordKeyShredded',
        subject: job.payload.subject,
        erasureId: job.payload.erasureId,
        jobId: job.jobId,
        keysShredded: Number(result.keysShredded ?? 0),
        prune: pruneSummaryOf(result.prune),
      };
  }
}

/**
 * A backup's statistics as the worker reported them; its problem counts are copied reason by
 * reason, so whatever else a worker put there (a path) never reaches the event.
 */
function statisticsOf(value: unknown): BackupStatisticsData {
  const statistics = { ...(value as BackupStatisticsData) };
  if (statistics.problems !== undefined) statistics.problems = problemCountsOf(statistics.problems);
  return statistics;
}

/** The three counts a worker reports for its prune, copied field by field (nothing else reaches the event). */
function pruneSummaryOf(value: unknown): PruneSummaryData | null {
  const summary = value as Partial<PruneSummaryData> | null;
  if (typeof summary !== 'object' || summary === null) return null;
  const { blobsRemoved, erasedBlobsRemoved, bytesFreed } = summary;
  const counts = [blobsRemoved, erasedBlobsRemoved, bytesFreed];
  if (!counts.every((count) => Number.isInteger(count) && Number(count) >= 0)) return null;
  return { blobsRemoved: Number(blobsRemoved), erasedBlobsRemoved: Number(erasedBlobsRemoved), bytesFreed: Number(bytesFreed) };
}

function isCounts(value: unknown): value is { files: number; bytes: number } {
  const counts = value as { files?: unknown; bytes?: unknown } | null;
  return typeof counts === 'object' && counts !== null && Number.isInteger(counts.files) && Number.isInteger(counts.bytes);
}

function failCommand(tracked: TrackedJob, failure: JobFailure): JobCommand {
  const { job } = tracked;
  switch (job.kind) {
    case 'backup':
      return { type: 'FailBackup', backupId: job.payload.backupId, jobId: job.jobId, ...failure };
    case 'restore':
      return { type: 'FailRestore', restoreId: job.payload.restoreId, jobId: job.jobId, ...failure };
    case 'verify':
      return {
        type: 'RecordVerification',
        backupId: job.payload.backupId,
        verificationId: job.payload.verificationId,
        outcome: 'failed',
        ...failure,
      };
    case 'delete':
      return {
        type: 'FailBackupDeletion',
        backupId: job.payload.backupId,
        deletionId: job.payload.deletionId,
        jobId: job.jobId,
        ...failure,
      };
    case 'erase':
      return { type: 'FailErasure', subject: job.payload.subject, erasureId: job.payload.erasureId, jobId: job.jobId, ...failure };
  }
}
