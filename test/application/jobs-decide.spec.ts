import {
  ExecuteBackupCommand,
  ExecuteJobCommand,
  ExecuteRestoreCommand,
  ExecuteSubjectCommand,
} from '../../src/application/commands/commands';
import { CommandContext, deterministicUuid } from '../../src/application/event-envelope';
import { Job, JobLookups, JobResult } from '../../src/application/jobs';
import { JobKind } from '../../src/application/jobs';
import { ReceivedJobStatus } from '../../src/application/ports/job-bus';
import {
  decideOnEvent,
  decideOnRecovery,
  decideOnStatus,
  decideTimeout,
  JobAction,
  JOB_RESULT_INVALID,
  needsOf,
} from '../../src/application/process-managers/jobs.decide';
import type { TrackedJob } from '../../src/application/process-managers/job-tracker';
import { DEFAULT_ORCHESTRATION_SETTINGS, OrchestrationSettings } from '../../src/application/settings';
import { BackupState, DomainEvent, SourceState, Streams } from '../../src/domain';
import { PSEUDONYM_PATTERN } from '../../src/engine/repository/format';
import { PSEUDONYM } from '../../src/application/jobs/schema';

/**
 * The jobs process manager's decisions, without Nest, in given / when / then form (as Emmett's
 * DeciderSpecification): given what the log's aggregates or the job tracker hold, when an
 * event or a worker's status arrives, then these actions.
 */
const AT = '2026-12-03T10:00:00.000Z';
const SETTINGS: OrchestrationSettings = {
  ...DEFAULT_ORCHESTRATION_SETTINGS,
  jobMaxAttempts: 3,
  jobRetryBaseDelayMs: 1_000,
  jobHeartbeatTimeoutMs: 60_000,
};
const SUBJECT = 'p_subject-1';

function givenAggregates(seen: JobLookups = {}) {
  return {
    when: (event: DomainEvent, eventId = 'e1') => ({
      then: (expected: JobAction[]) => expect(decideOnEvent(event, { eventId, correlationId: 'corr-1' }, seen)).toEqual(expected),
    }),
  };
}

function givenJob(tracked: TrackedJob | undefined, settings = SETTINGS) {
  return {
    when: (status: ReceivedJobStatus) => ({
      then: (expected: JobAction[]) => expect(decideOnStatus(tracked, status, settings)).toEqual(expected),
    }),
    whenSilent: () => ({ then: (expected: JobAction[]) => expect(decideTimeout(tracked!, settings)).toEqual(expected) }),
    /** At start, with a bus that keeps queued jobs (a broker) or not (in-process). */
    whenRecovered: (bus: { keepsQueuedJobs: boolean }) => ({
      then: (expected: JobAction[]) => expect(decideOnRecovery(tracked!, settings, bus)).toEqual(expected),
    }),
  };
}

const activeSource: SourceState = {
  status: 'active',
  sourceId: 's1',
  name: 'crm',
  path: '/srv/crm',
  subjectRules: [],
  dataCategories: [],
  purposes: [],
};
const completedBackup = {
  status: 'completed',
  backupId: 'b1',
  sourceId: 's1',
  backupType: 'full',
  jobId: 'backup-e0',
  attempt: 1,
  snapshotId: 'snap1',
  merkleRoot: 'm',
  verification: 'unverified',
  pendingVerification: 'v1',
  pendingDeletion: 'd1',
  discards: [],
  pendingDiscards: [],
} as unknown as BackupState;

/** One job of each kind, as the request decisions below hand them out. */
const JOBS: { [K in JobKind]: Extract<Job, { kind: K }> } = {
  backup: {
    jobId: 'backup-e1',
    kind: 'backup',
    key: 's1',
    attempt: 1,
    correlationId: 'corr-1',
    payload: { backupId: 'b1', sourceId: 's1', path: '/srv/crm', full: true },
  },
  restore: {
    jobId: 'restore-e1',
    kind: 'restore',
    key: 's1',
    attempt: 1,
    correlationId: 'corr-1',
    payload: { restoreId: 'r1', backupId: 'b1', snapshotId: 'snap1', target: '/srv/restores/r1', include: ['a'] },
  },
  verify: {
    jobId: 'verify-e1',
    kind: 'verify',
    key: 's1',
    attempt: 1,
    correlationId: 'corr-1',
    payload: { backupId: 'b1', verificationId: 'v1', snapshotId: 'snap1' },
  },
  delete: {
    jobId: 'delete-e1',
    kind: 'delete',
    key: 's1',
    attempt: 1,
    correlationId: 'corr-1',
    payload: { backupId: 'b1', deletionId: 'd1', snapshotId: 'snap1' },
  },
  erase: {
    jobId: 'erase-e1',
    kind: 'erase',
    key: Streams.subject(SUBJECT),
    attempt: 1,
    correlationId: 'corr-1',
    payload: { erasureId: 'x1', subject: SUBJECT },
  },
};
const AGGREGATE: Record<JobKind, string> = { backup: 'b1', restore: 'r1', verify: 'v1', delete: 'd1', erase: 'x1' };

function tracked(kind: JobKind, overrides: Partial<TrackedJob> = {}, attempt = 1): TrackedJob {
  return { job: { ...JOBS[kind], attempt } as Job, aggregateId: AGGREGATE[kind], status: 'running', updatedAt: AT, ...overrides };
}

function status(kind: JobKind, body: Record<string, unknown>, attempt = 1): ReceivedJobStatus {
  return { jobId: JOBS[kind].jobId, kind, attempt, at: AT, ...body } as ReceivedJobStatus;
}

function context(kind: JobKind, cause: string): CommandContext {
  return { actor: 'system:jobs', correlationId: 'corr-1', causationId: `job:${JOBS[kind].jobId}:${cause}` };
}

/** The facts of a job's attempts the decisions record in its stream (domain/job.ts). */
const recorded = {
  identity: (kind: JobKind) => ({ jobId: JOBS[kind].jobId, kind, aggregateId: AGGREGATE[kind] }),
  started: (kind: JobKind, attempt: number, worker: string | null, cause: string): JobAction => ({
    type: 'issue',
    message: new ExecuteJobCommand({ type: 'RecordAttemptStarted', attempt, worker, ...recorded.identity(kind) }, context(kind, cause)),
  }),
  ended: (
    kind: JobKind,
    attempt: number,
    outcome: 'timed-out' | 'lost' | 'failed',
    failure: { code: string; retryable: boolean },
    cause: string,
  ): JobAction => ({
    type: 'issue',
    message: new ExecuteJobCommand(
      { type: 'RecordAttemptEnded', attempt, outcome, code: failure.code, retryable: failure.retryable, ...recorded.identity(kind) },
      context(kind, cause),
    ),
  }),
  redispatched: (kind: JobKind, attempt: number, delayMs: number, cause: string): JobAction => ({
    type: 'issue',
    message: new ExecuteJobCommand({ type: 'RecordRedispatch', attempt, delayMs, ...recorded.identity(kind) }, context(kind, cause)),
  }),
};

const FAILURE = { code: 'IO_ERROR', reason: 'the worker met an I/O error', retryable: true };
const PERMANENT = { code: 'SNAPSHOT_NOT_FOUND', reason: 'snapshot gone', retryable: false };

const RESULTS: { [K in JobKind]: JobResult<K> } = {
  backup: {
    snapshotId: 'snap1',
    merkleRoot: 'root',
    statistics: {
      files: 1,
      directories: 1,
      bytesRead: 2,
      totalBytes: 2,
      newBytes: 2,
      storedBytes: 2,
      duplicateBytes: 0,
      chunks: 1,
      durationMs: 5,
      errors: 0,
      problems: { changed: 1 },
    },
  },
  restore: { files: 3, bytes: 30, skippedErased: { files: 1, bytes: 10 } },
  verify: { blobsChecked: 4, bytesChecked: 40 },
  delete: { prune: { blobsRemoved: 2, erasedBlobsRemoved: 0, bytesFreed: 20 } },
  erase: { keysShredded: 1, status: 'shredded', prune: null },
};

/** Per kind: the command its completion with RESULTS, and its failure with `failure`, become. */
const COMMANDS = {
  complete: {
    backup: (ctx: CommandContext) =>
      new ExecuteBackupCommand(
        {
          type: 'CompleteBackup',
          backupId: 'b1',
          jobId: 'backup-e1',
          snapshotId: 'snap1',
          merkleRoot: 'root',
          statistics: RESULTS.backup.statistics,
        },
        ctx,
      ),
    restore: (ctx: CommandContext) =>
      new ExecuteRestoreCommand(
        { type: 'CompleteRestore', restoreId: 'r1', jobId: 'restore-e1', files: 3, bytes: 30, skippedErased: { files: 1, bytes: 10 } },
        ctx,
      ),
    verify: (ctx: CommandContext) =>
      new ExecuteBackupCommand(
        { type: 'RecordVerification', backupId: 'b1', verificationId: 'v1', outcome: 'verified', blobsChecked: 4, bytesChecked: 40 },
        ctx,
      ),
    delete: (ctx: CommandContext) =>
      new ExecuteBackupCommand(
        {
          type: 'RecordBackupDeleted',
          backupId: 'b1',
          deletionId: 'd1',
          jobId: 'delete-e1',
          prune: { blobsRemoved: 2, erasedBlobsRemoved: 0, bytesFreed: 20 },
        },
        ctx,
      ),
    erase: (ctx: CommandContext) =>
      new ExecuteSubjectCommand(
        { type: 'RecordKeyShredded', subject: SUBJECT, erasureId: 'x1', jobId: 'erase-e1', keysShredded: 1, prune: null },
        ctx,
      ),
  },
  fail: {
    backup: (ctx: CommandContext, failure = PERMANENT) =>
      new ExecuteBackupCommand({ type: 'FailBackup', backupId: 'b1', jobId: 'backup-e1', ...failure }, ctx),
    restore: (ctx: CommandContext, failure = PERMANENT) =>
      new ExecuteRestoreCommand({ type: 'FailRestore', restoreId: 'r1', jobId: 'restore-e1', ...failure }, ctx),
    verify: (ctx: CommandContext, failure = PERMANENT) =>
      new ExecuteBackupCommand({ type: 'RecordVerification', backupId: 'b1', verificationId: 'v1', outcome: 'failed', ...failure }, ctx),
    delete: (ctx: CommandContext, failure = PERMANENT) =>
      new ExecuteBackupCommand({ type: 'FailBackupDeletion', backupId: 'b1', deletionId: 'd1', jobId: 'delete-e1', ...failure }, ctx),
    erase: (ctx: CommandContext, failure = PERMANENT) =>
      new ExecuteSubjectCommand({ type: 'FailErasure', subject: SUBJECT, erasureId: 'x1', jobId: 'erase-e1', ...failure }, ctx),
  },
} satisfies Record<'complete' | 'fail', Record<JobKind, unknown>>;

const KINDS: JobKind[] = ['backup', 'restore', 'verify', 'delete', 'erase'];

describe('jobs process manager decisions', () => {
  describe('requests', () => {
    it('backup: given an active source, when a backup is requested, then a job with its folder is dispatched', () => {
      const event: DomainEvent = { type: 'BackupRequested', data: { backupId: 'b1', sourceId: 's1', backupType: 'full', at: AT } };
      expect(needsOf(event)).toEqual({ sourceId: 's1' });
      givenAggregates({ source: activeSource })
        .when(event)
        .then([{ type: 'dispatch', job: JOBS.backup, aggregateId: 'b1' }]);
    });

    it('backup: carries the source subject rules, and an incremental backup is not full', () => {
      const event: DomainEvent = { type: 'BackupRequested', data: { backupId: 'b1', sourceId: 's1', backupType: 'incremental', at: AT } };
      givenAggregates({ source: { ...activeSource, subjectRules: ['customers/{subject}/**'] } as SourceState })
        .when(event)
        .then([
          {
            type: 'dispatch',
            job: { ...JOBS.backup, payload: { ...JOBS.backup.payload, full: false, subjectRules: ['customers/{subject}/**'] } },
            aggregateId: 'b1',
          },
        ]);
    });

    it('backup: given no source (gone), when a backup is requested, then nothing', () => {
      givenAggregates({ source: { status: 'none' } })
        .when({ type: 'BackupRequested', data: { backupId: 'b1', sourceId: 's1', backupType: 'full', at: AT } })
        .then([]);
    });

    it('restore: when a restore is requested, then a job keyed by its source is dispatched', () => {
      const event: DomainEvent = {
        type: 'RestoreRequested',
        data: {
          restoreId: 'r1',
          backupId: 'b1',
          sourceId: 's1',
          snapshotId: 'snap1',
          target: '/srv/restores/r1',
          include: ['a'],
          purpose: 'test',
          at: AT,
        },
      };
      expect(needsOf(event)).toBeNull();
      givenAggregates()
        .when(event)
        .then([{ type: 'dispatch', job: JOBS.restore, aggregateId: 'r1' }]);
      givenAggregates()
        .when({ ...event, data: { ...event.data, subject: SUBJECT } } as DomainEvent)
        .then([{ type: 'dispatch', job: { ...JOBS.restore, payload: { ...JOBS.restore.payload, subject: SUBJECT } }, aggregateId: 'r1' }]);
    });

    it('verify: given a backup with a snapshot, when a verification is requested, then a job on its snapshot; without one, nothing', () => {
      const event: DomainEvent = { type: 'BackupVerificationRequested', data: { backupId: 'b1', verificationId: 'v1', at: AT } };
      expect(needsOf(event)).toEqual({ backupId: 'b1' });
      givenAggregates({ backup: completedBackup })
        .when(event)
        .then([{ type: 'dispatch', job: JOBS.verify, aggregateId: 'v1' }]);
      givenAggregates({ backup: { ...completedBackup, snapshotId: null } as BackupState })
        .when(event)
        .then([]);
      givenAggregates({ backup: { status: 'none' } })
        .when(event)
        .then([]);
    });

    it('delete: given the deletion pending, when it is requested, then a job; once settled (a replay), nothing', () => {
      const event: DomainEvent = {
        type: 'BackupDeletionRequested',
        data: { backupId: 'b1', deletionId: 'd1', snapshotId: 'snap1', reason: 'operator', at: AT },
      };
      expect(needsOf(event)).toEqual({ backupId: 'b1' });
      givenAggregates({ backup: completedBackup })
        .when(event)
        .then([{ type: 'dispatch', job: JOBS.delete, aggregateId: 'd1' }]);
      givenAggregates({ backup: { ...completedBackup, pendingDeletion: null } as BackupState })
        .when(event)
        .then([]);
    });

    it('erase: when an erasure is requested, then a job keyed by the subject stream (erasures of one subject wait for each other)', () => {
      givenAggregates()
        .when({ type: 'ErasureRequested', data: { erasureId: 'x1', subject: SUBJECT, legalBasis: 'art17', requestedBy: 'dpo', at: AT } })
        .then([{ type: 'dispatch', job: JOBS.erase, aggregateId: 'x1' }]);
    });

    it('the job id derives from the requesting event, so a redelivered event asks for the same job', () => {
      const event: DomainEvent = {
        type: 'ErasureRequested',
        data: { erasureId: 'x1', subject: SUBJECT, legalBasis: 'art17', requestedBy: 'dpo', at: AT },
      };
      const [first] = decideOnEvent(event, { eventId: 'e9' });
      expect(first).toMatchObject({ type: 'dispatch', job: { jobId: 'erase-e9' } });
      expect(decideOnEvent(event, { eventId: 'e9' })).toEqual([first]);
    });
  });

  describe('settling events', () => {
    it.each([
      [{ type: 'BackupCompleted', data: { backupId: 'b1' } }, 'b1', false],
      [{ type: 'BackupFailed', data: { backupId: 'b1' } }, 'b1', false],
      [{ type: 'BackupCancelled', data: { backupId: 'b1' } }, 'b1', true],
      [{ type: 'RestoreCompleted', data: { restoreId: 'r1' } }, 'r1', false],
      [{ type: 'RestoreFailed', data: { restoreId: 'r1' } }, 'r1', false],
      [{ type: 'BackupVerified', data: { verificationId: 'v1' } }, 'v1', false],
      [{ type: 'BackupVerificationFailed', data: { verificationId: 'v1' } }, 'v1', false],
      [{ type: 'BackupDeleted', data: { deletionId: 'd1' } }, 'd1', false],
      [{ type: 'BackupDeletionFailed', data: { deletionId: 'd1' } }, 'd1', false],
      [{ type: 'ErasureCompleted', data: { erasureId: 'x1' } }, 'x1', false],
      [{ type: 'ErasureFailed', data: { erasureId: 'x1' } }, 'x1', false],
    ])('when %j, then the open jobs of %s close (cancelling the workers: %s)', (event, aggregateId, cancelWorkers) => {
      givenAggregates()
        .when(event as unknown as DomainEvent)
        .then([{ type: 'close', aggregateId, cancelWorkers }]);
    });

    it('when any other event arrives, then nothing', () => {
      givenAggregates()
        .when({ type: 'SourceRemoved', data: { sourceId: 's1', at: AT } })
        .then([]);
    });
  });

  describe.each(KINDS)('%s job statuses', (kind) => {
    it('given no such job, when a status arrives, then nothing', () => {
      givenJob(undefined)
        .when(status(kind, { status: 'started' }))
        .then([]);
    });

    it('when the worker starts it, then it is running (and a backup or restore records the start)', () => {
      const start =
        kind === 'backup'
          ? [
              {
                type: 'issue',
                message: new ExecuteBackupCommand(
                  { type: 'StartBackup', backupId: 'b1', jobId: 'backup-e1', attempt: 1 },
                  context(kind, '1:started'),
                ),
              },
            ]
          : kind === 'restore'
            ? [
                {
                  type: 'issue',
                  message: new ExecuteRestoreCommand(
                    { type: 'StartRestore', restoreId: 'r1', jobId: 'restore-e1', attempt: 1 },
                    context(kind, '1:started'),
                  ),
                },
              ]
            : [];
      givenJob(tracked(kind, { status: 'dispatched' }))
        .when(status(kind, { status: 'started', worker: 'host-a:42' }))
        .then([
          { type: 'markRunning', jobId: JOBS[kind].jobId },
          recorded.started(kind, 1, 'host-a:42', '1:started'),
          ...start,
        ] as JobAction[]);
      // A worker of an older build names no one.
      expect(decideOnStatus(tracked(kind, { status: 'dispatched' }), status(kind, { status: 'started' }), SETTINGS)[1]).toEqual(
        recorded.started(kind, 1, null, '1:started'),
      );
    });

    it('when an earlier attempt starts late, then the tracker is left alone', () => {
      const actions = decideOnStatus(tracked(kind, {}, 2), status(kind, { status: 'started' }, 1), SETTINGS);
      expect(actions.map((action) => action.type)).not.toContain('markRunning');
    });

    it('when it beats, then the tracker hears of it with the progress; an earlier attempt beating is ignored', () => {
      const progress = { filesDone: 1, bytesDone: 2, totalFiles: 3, totalBytes: 4 };
      givenJob(tracked(kind))
        .when(status(kind, { status: 'heartbeat', progress }))
        .then([{ type: 'touch', jobId: JOBS[kind].jobId, progress }]);
      givenJob(tracked(kind, {}, 2))
        .when(status(kind, { status: 'heartbeat', progress }, 1))
        .then([]);
    });

    it('when it completes, then its complete command is issued and the job is done', () => {
      givenJob(tracked(kind))
        .when(status(kind, { status: 'completed', result: RESULTS[kind] }))
        .then([
          {
            type: 'issue',
            message: COMMANDS.complete[kind](context(kind, '1:completed')),
            ifRefused:
              kind === 'backup'
                ? [
                    {
                      type: 'issue',
                      message: new ExecuteBackupCommand(
                        { type: 'DiscardSnapshot', backupId: 'b1', deletionId: deterministicUuid('discard:b1:snap1'), snapshotId: 'snap1' },
                        context(kind, '1:discard'),
                      ),
                      ifAccepted: 'backup b1 ended before its job backup-e1 did; discarding the snapshot that job wrote',
                    },
                  ]
                : [],
          },
          { type: 'markDone', jobId: JOBS[kind].jobId },
        ]);
    });

    it('when it completes with a result that breaks the kind schema, then it fails with JOB_RESULT_INVALID (not retried)', () => {
      const failure = {
        code: JOB_RESULT_INVALID,
        reason: `the worker reported a ${kind} result that does not fit its schema`,
        retryable: false,
      };
      givenJob(tracked(kind))
        .when(status(kind, { status: 'completed', result: { files: 'many', prune: 'all', blobsChecked: -1, snapshotId: 7 } }))
        .then([
          { type: 'issue', message: COMMANDS.fail[kind](context(kind, '1:completed'), failure) },
          { type: 'markDone', jobId: JOBS[kind].jobId },
        ]);
    });

    it('when it fails for good, then its fail command is issued with the failure and the job is done', () => {
      givenJob(tracked(kind))
        .when(status(kind, { status: 'failed', failure: PERMANENT }))
        .then([
          recorded.ended(kind, 1, 'failed', PERMANENT, '1:failed'),
          { type: 'issue', message: COMMANDS.fail[kind](context(kind, '1:failed')) },
          { type: 'markDone', jobId: JOBS[kind].jobId },
        ]);
    });

    it('when it fails retryably with attempts left, then the next attempt goes out after a doubling delay', () => {
      givenJob(tracked(kind))
        .when(status(kind, { status: 'failed', failure: FAILURE }))
        .then([
          recorded.ended(kind, 1, 'failed', FAILURE, '1:failed'),
          recorded.redispatched(kind, 2, 1_000, '1:failed'),
          { type: 'retry', job: { ...JOBS[kind], attempt: 2 }, delayMs: 1_000, failure: FAILURE },
        ]);
      givenJob(tracked(kind, {}, 2))
        .when(status(kind, { status: 'failed', failure: FAILURE }, 2))
        .then([
          recorded.ended(kind, 2, 'failed', FAILURE, '2:failed'),
          recorded.redispatched(kind, 3, 2_000, '2:failed'),
          { type: 'retry', job: { ...JOBS[kind], attempt: 3 }, delayMs: 2_000, failure: FAILURE },
        ]);
    });

    it('when the last attempt fails retryably, then the job fails', () => {
      givenJob(tracked(kind, {}, 3))
        .when(status(kind, { status: 'failed', failure: FAILURE }, 3))
        .then([
          recorded.ended(kind, 3, 'failed', FAILURE, '3:failed'),
          {
            type: 'issue',
            message: COMMANDS.fail[kind]({ ...context(kind, '3:failed') }, FAILURE),
          },
          { type: 'markDone', jobId: JOBS[kind].jobId },
        ]);
    });

    it('when an earlier attempt fails, then nothing (the current attempt decides)', () => {
      givenJob(tracked(kind, {}, 2))
        .when(status(kind, { status: 'failed', failure: PERMANENT }, 1))
        .then([]);
    });

    it('when it stays silent past the heartbeat timeout, then it is retried, and failed with JOB_TIMEOUT after the last attempt', () => {
      const timeout = (attempt: number) => ({
        code: 'JOB_TIMEOUT',
        reason: `no word from a worker for 60 s (attempt ${attempt})`,
        retryable: true,
      });
      givenJob(tracked(kind))
        .whenSilent()
        .then([
          recorded.ended(kind, 1, 'timed-out', timeout(1), '1:timeout'),
          recorded.redispatched(kind, 2, 1_000, '1:timeout'),
          { type: 'retry', job: { ...JOBS[kind], attempt: 2 }, delayMs: 1_000, failure: timeout(1) },
        ]);
      givenJob(tracked(kind, {}, 3))
        .whenSilent()
        .then([
          recorded.ended(kind, 3, 'timed-out', timeout(3), '3:timeout'),
          { type: 'issue', message: COMMANDS.fail[kind](context(kind, '3:timeout'), timeout(3)) },
          { type: 'markDone', jobId: JOBS[kind].jobId },
        ]);
    });

    it('when the service restarts with it queued on an in-process bus, then the same attempt is published again', () => {
      givenJob(tracked(kind, { status: 'dispatched' }))
        .whenRecovered({ keepsQueuedJobs: false })
        .then([{ type: 'publish', job: JOBS[kind] }]);
    });

    it('when the service restarts with it queued on a broker, then nothing: the broker still holds it', () => {
      givenJob(tracked(kind, { status: 'dispatched' }))
        .whenRecovered({ keepsQueuedJobs: true })
        .then([]);
    });

    it('when the service restarts with it running, then it goes out again at once (WORKER_LOST)', () => {
      givenJob(tracked(kind, { status: 'running' }))
        .whenRecovered({ keepsQueuedJobs: true })
        .then([
          recorded.ended(kind, 1, 'lost', { code: 'WORKER_LOST', retryable: true }, '1:lost'),
          recorded.redispatched(kind, 2, 0, '1:lost'),
          {
            type: 'retry',
            job: { ...JOBS[kind], attempt: 2 },
            delayMs: 0,
            failure: { code: 'WORKER_LOST', reason: 'the service stopped during attempt 1', retryable: true },
          },
        ]);
    });

    it('given it settled, when a status other than a result arrives, then nothing', () => {
      givenJob(tracked(kind, { status: 'done' }))
        .when(status(kind, { status: 'failed', failure: FAILURE }))
        .then([]);
    });
  });

  describe('late snapshots', () => {
    it('given a settled backup job, when its snapshot arrives after all, then the snapshot is discarded', () => {
      givenJob(tracked('backup', { status: 'done' }))
        .when(status('backup', { status: 'completed', result: { snapshotId: 'late', merkleRoot: 'm', statistics: {} } }))
        .then([
          {
            type: 'issue',
            message: new ExecuteBackupCommand(
              { type: 'DiscardSnapshot', backupId: 'b1', deletionId: deterministicUuid('discard:b1:late'), snapshotId: 'late' },
              context('backup', '1:discard'),
            ),
            ifAccepted: 'backup b1 ended before its job backup-e1 did; discarding the snapshot that job wrote',
          },
        ]);
    });

    it('given a settled job of another kind, or a result without a snapshot, then nothing', () => {
      givenJob(tracked('restore', { status: 'done' }))
        .when(status('restore', { status: 'completed', result: RESULTS.restore }))
        .then([]);
      givenJob(tracked('backup', { status: 'done' }))
        .when(status('backup', { status: 'completed', result: { snapshotId: '' } }))
        .then([]);
    });
  });

  it("the payload schemas' pseudonym is the engine's", () => {
    expect(PSEUDONYM.source).toBe(PSEUDONYM_PATTERN.source);
  });
});
