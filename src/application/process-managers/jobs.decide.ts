import type { ICommand } from '@nestjs/cqrs';
import { DomainEvent, DomainEventType, EventOf, JobAttemptOutcome, JobCommand } from '../../domain';
import { ExecuteBackupCommand, ExecuteJobCommand, WithoutTime } from '../commands/commands';
import { CommandContext, deterministicUuid } from '../event-envelope';
import { AnyJobKind, descriptorOf, Job, JOB_KIND_NAMES, JobFailure, JobLookups, JobNeeds } from '../jobs';
import { JobProgress, ReceivedJobStatus } from '../ports/job-bus';
import { delayBeforeRetry, mayRetry, RetryPolicy } from '../retry';
import { OrchestrationSettings } from '../settings';
import type { TrackedJob } from './job-tracker';

/**
 * The jobs process manager's decisions, pure: given an event of the log or a worker's status
 * (and what the tracker knows of the job), the actions to take. Every per-kind choice comes from
 * the kind's descriptor (src/application/jobs); JobsProcessManager carries the actions out.
 */
export type JobAction =
  /** Record the job (once) and publish it; a redelivered request publishes again only while it is unsettled. */
  | { type: 'dispatch'; job: Job; aggregateId: string }
  /** Mark the aggregate's open jobs done, telling the workers to stop them first when `cancelWorkers`. */
  | { type: 'close'; aggregateId: string; cancelWorkers: boolean }
  /** Publish a recorded job again, same attempt: its queued copy was lost with the bus's memory. */
  | { type: 'publish'; job: Job }
  | { type: 'markRunning'; jobId: string }
  | { type: 'touch'; jobId: string; progress?: JobProgress }
  /**
   * Issue a command; when the aggregate refuses it as an invalid transition (it moved on), take
   * `ifRefused` instead; when it accepts, log `ifAccepted` as a warning.
   */
  | { type: 'issue'; message: ICommand; ifRefused?: JobAction[]; ifAccepted?: string }
  | { type: 'markDone'; jobId: string }
  /** Record the next attempt as dispatched and publish it after `delayMs`. */
  | { type: 'retry'; job: Job; delayMs: number; failure: JobFailure };

export const JOB_ACTOR = 'system:jobs';

/** The failure a result that breaks its kind's schema becomes: the worker and control plane disagree; retrying cannot help. */
export const JOB_RESULT_INVALID = 'JOB_RESULT_INVALID';

const REQUESTED_BY = new Map<DomainEventType, AnyJobKind>();
const SETTLED_BY = new Map<DomainEventType, { aggregateIdOf: (event: DomainEvent) => string; cancelWorkers: boolean }>();
for (const kind of JOB_KIND_NAMES) {
  const descriptor = descriptorOf(kind);
  for (const type of descriptor.requestedBy) REQUESTED_BY.set(type, descriptor);
  for (const [settled, cancelWorkers] of [
    [descriptor.settledBy, false],
    [descriptor.cancelledBy ?? {}, true],
  ] as const) {
    for (const [type, aggregateIdOf] of Object.entries(settled)) {
      SETTLED_BY.set(type as DomainEventType, { aggregateIdOf: aggregateIdOf as (event: DomainEvent) => string, cancelWorkers });
    }
  }
}

/** The aggregates the decision on `event` must see (for the shell to load), or null when it needs none. */
export function needsOf(event: DomainEvent): JobNeeds | null {
  const descriptor = REQUESTED_BY.get(event.type);
  return descriptor?.needs?.(event as EventOf<never>) ?? null;
}

/** What an event of the log asks for. `eventId` names the job (so a redelivered event asks for the same job). */
export function decideOnEvent(event: DomainEvent, meta: { eventId: string; correlationId?: string }, seen: JobLookups = {}): JobAction[] {
  const requested = REQUESTED_BY.get(event.type);
  if (requested) {
    const request = requested.request(event as EventOf<never>, seen);
    if (!request) return [];
    const job = {
      jobId: `${requested.kind}-${meta.eventId}`,
      kind: requested.kind,
      key: request.key,
      attempt: 1,
      correlationId: meta.correlationId,
      payload: request.payload,
    } as Job;
    return [{ type: 'dispatch', job, aggregateId: request.aggregateId }];
  }
  const settled = SETTLED_BY.get(event.type);
  if (settled) return [{ type: 'close', aggregateId: settled.aggregateIdOf(event), cancelWorkers: settled.cancelWorkers }];
  return [];
}

/** What a worker's status message asks for, given the tracker's record of its job. */
export function decideOnStatus(tracked: TrackedJob | undefined, status: ReceivedJobStatus, settings: OrchestrationSettings): JobAction[] {
  if (!tracked) return []; // unknown
  if (tracked.status === 'done') {
    // Already settled: a late duplicate, or a backup that was cancelled or failed while a worker
    // went on and wrote a snapshot. That snapshot must not stay behind, unlisted.
    return status.status === 'completed' ? discardLateSnapshot(tracked, status) : [];
  }
  const { job } = tracked;
  const descriptor = descriptorOf(job.kind);
  const current = status.attempt === job.attempt;
  const cause = `job:${status.jobId}:${status.attempt}:${status.status}`;
  switch (status.status) {
    case 'started': {
      // An earlier attempt that starts late still counts as the job starting; the decider
      // ignores it once a later attempt has been recorded.
      const command = descriptor.start(job, status.attempt);
      return [
        ...(current ? [{ type: 'markRunning', jobId: job.jobId } as const] : []),
        record(tracked, { type: 'RecordAttemptStarted', attempt: status.attempt, worker: status.worker ?? null }, cause),
        ...(command === null ? [] : [issue(tracked, descriptor, command, cause)]),
      ];
    }
    case 'heartbeat':
      return current ? [{ type: 'touch', jobId: job.jobId, ...(status.progress && { progress: status.progress }) }] : [];
    case 'completed': {
      const result = descriptor.result.safeParse(status.result);
      if (!result.success) {
        const failure = {
          code: JOB_RESULT_INVALID,
          reason: `the worker reported a ${job.kind} result that does not fit its schema`,
          retryable: false,
        };
        return [{ ...issue(tracked, descriptor, descriptor.fail(job, failure), cause) }, { type: 'markDone', jobId: job.jobId }];
      }
      // A result from an earlier attempt is still a result: the work was done.
      return [
        { ...issue(tracked, descriptor, descriptor.complete(job, result.data), cause), ifRefused: discardLateSnapshot(tracked, status) },
        { type: 'markDone', jobId: job.jobId },
      ];
    }
    case 'failed':
      return current ? decideFailure(tracked, status.failure, `job:${status.jobId}:${status.attempt}:failed`, settings, 'failed') : [];
  }
}

/** An open job not heard from within the heartbeat timeout. */
export function decideTimeout(tracked: TrackedJob, settings: OrchestrationSettings): JobAction[] {
  const seconds = Math.round(settings.jobHeartbeatTimeoutMs / 1000);
  const { attempt, jobId } = tracked.job;
  return decideFailure(
    tracked,
    { code: 'JOB_TIMEOUT', reason: `no word from a worker for ${seconds} s (attempt ${attempt})`, retryable: true },
    `job:${jobId}:${attempt}:timeout`,
    settings,
    'timed-out',
  );
}

/**
 * An open job found at start, before this process's worker takes anything. A running one died
 * with the old process: retried at once, as a new attempt. A queued one never ran: when the bus
 * kept no copy of it (in-process queues are memory), it is published again as the same attempt;
 * a broker still holds it otherwise.
 */
export function decideOnRecovery(tracked: TrackedJob, settings: OrchestrationSettings, bus: { keepsQueuedJobs: boolean }): JobAction[] {
  if (tracked.status === 'running') return decideLost(tracked, settings);
  if (tracked.status === 'dispatched' && !bus.keepsQueuedJobs) return [{ type: 'publish', job: tracked.job }];
  return [];
}

/** A running job found after a restart of the embedded service: it died with the old process; retried at once. */
export function decideLost(tracked: TrackedJob, settings: OrchestrationSettings): JobAction[] {
  const { attempt, jobId } = tracked.job;
  return decideFailure(
    tracked,
    { code: 'WORKER_LOST', reason: `the service stopped during attempt ${attempt}`, retryable: true },
    `job:${jobId}:${attempt}:lost`,
    settings,
    'lost',
    0,
  );
}

/** A job failing with a retryable reason is handed out again, up to jobMaxAttempts, the wait doubling from jobRetryBaseDelayMs. */
function jobRetryPolicy(settings: OrchestrationSettings): RetryPolicy {
  return { maxAttempts: settings.jobMaxAttempts, backoff: { kind: 'exponential', initialMs: settings.jobRetryBaseDelayMs } };
}

/**
 * How the attempt ended is recorded first (JobAttemptEnded); then a retryable failure with
 * attempts left is a retry with backoff (recorded as JobRedispatched), and any other settles the
 * job with its kind's fail command.
 */
export function decideFailure(
  tracked: TrackedJob,
  failure: JobFailure,
  cause: string,
  settings: OrchestrationSettings,
  outcome: JobAttemptOutcome,
  delayOverrideMs?: number,
): JobAction[] {
  const { job } = tracked;
  const policy = jobRetryPolicy(settings);
  const ended = record(
    tracked,
    { type: 'RecordAttemptEnded', attempt: job.attempt, outcome, code: failure.code, retryable: failure.retryable },
    cause,
  );
  if (failure.retryable && mayRetry(policy, job.attempt)) {
    const delayMs = delayOverrideMs ?? delayBeforeRetry(policy.backoff, job.attempt);
    return [
      ended,
      record(tracked, { type: 'RecordRedispatch', attempt: job.attempt + 1, delayMs }, cause),
      { type: 'retry', job: { ...job, attempt: job.attempt + 1 }, delayMs, failure },
    ];
  }
  const descriptor = descriptorOf(job.kind);
  return [ended, issue(tracked, descriptor, descriptor.fail(job, failure), cause), { type: 'markDone', jobId: job.jobId }];
}

/** Records a fact of the job's attempts in its own stream (domain/job.ts), once. */
function record(
  tracked: TrackedJob,
  fact: DistributiveOmit<WithoutTime<JobCommand>, 'jobId' | 'kind' | 'aggregateId'>,
  cause: string,
): Extract<JobAction, { type: 'issue' }> {
  const identity = { jobId: tracked.job.jobId, kind: tracked.job.kind, aggregateId: tracked.aggregateId };
  return { type: 'issue', message: new ExecuteJobCommand({ ...fact, ...identity } as WithoutTime<JobCommand>, contextOf(tracked, cause)) };
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * A backup job's result the backup no longer takes (it was cancelled, or failed after its last
 * attempt timed out): the snapshot is deleted again, recorded as a deletion with reason
 * `discard`. The deletion id derives from the snapshot, so a repeated report asks once.
 */
function discardLateSnapshot(tracked: TrackedJob, status: Extract<ReceivedJobStatus, { status: 'completed' }>): JobAction[] {
  const { job } = tracked;
  // Read from the result as received: a snapshot id is worth discarding even when the rest of
  // the result does not fit its schema.
  const snapshotId =
    typeof status.result === 'object' && status.result !== null ? (status.result as { snapshotId?: unknown }).snapshotId : undefined;
  if (job.kind !== 'backup' || typeof snapshotId !== 'string' || snapshotId === '') return [];
  const { backupId } = job.payload;
  const deletionId = deterministicUuid(`discard:${backupId}:${snapshotId}`);
  return [
    {
      type: 'issue',
      message: new ExecuteBackupCommand(
        { type: 'DiscardSnapshot', backupId, deletionId, snapshotId },
        contextOf(tracked, `job:${status.jobId}:${status.attempt}:discard`),
      ),
      // Refused: a duplicate report for a backup that did complete with it; nothing to discard.
      ifAccepted: `backup ${backupId} ended before its job ${job.jobId} did; discarding the snapshot that job wrote`,
    },
  ];
}

function issue(tracked: TrackedJob, descriptor: AnyJobKind, command: unknown, cause: string): Extract<JobAction, { type: 'issue' }> {
  return { type: 'issue', message: descriptor.message(command, contextOf(tracked, cause)) };
}

function contextOf(tracked: TrackedJob, causationId: string): CommandContext {
  return { actor: JOB_ACTOR, correlationId: tracked.job.correlationId ?? tracked.job.jobId, causationId };
}
