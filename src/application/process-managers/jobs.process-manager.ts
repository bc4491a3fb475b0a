import { Inject, Injectable, Logger } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { backupDecider, DomainEvent, sourceDecider, Streams } from '../../domain';
import { AggregateStore } from '../aggregate-store';
import { executeUnlessMovedOn } from '../commands/commands';
import { toDomainEvent } from '../event-envelope';
import { JobLookups } from '../jobs';
import { Clock } from '../ports/clock';
import { EventStore, RecordedEvent } from '../ports/event-store';
import { JobBus, ReceivedJobStatus } from '../ports/job-bus';
import { OrchestrationSettings } from '../settings';
import { CLOCK, EVENT_STORE, JOB_BUS, SETTINGS } from '../tokens';
import { decideOnEvent, decideOnRecovery, decideOnStatus, decideTimeout, JobAction, needsOf } from './jobs.decide';
import { JobTracker } from './job-tracker';

/**
 * The process manager between the event log and the workers. It reacts to requests in the log
 * (driven by a durable subscription, so no reaction is lost) by handing out jobs whose ids derive
 * from the requesting event, and to job status messages by issuing commands on the CommandBus.
 * Jobs not heard from in time are retried, then failed with a reason. What to do is decided by
 * the pure functions of jobs.decide.ts over the table of job kinds; this class loads what they
 * need and carries out their actions.
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
    const seen = await this.lookups(event);
    await this.act(decideOnEvent(event, { eventId: recorded.id, correlationId: recorded.metadata.correlationId }, seen));
  }

  /** Reacts to a worker's status message. Safe to call again for the same message. */
  async handleStatus(status: ReceivedJobStatus): Promise<void> {
    await this.act(decideOnStatus(await this.tracker.get(status.jobId), status, this.settings));
  }

  /** Retries or fails every running job whose worker was not heard from within the heartbeat timeout. */
  async superviseOpenJobs(): Promise<void> {
    const before = new Date(this.clock.now().getTime() - this.settings.jobHeartbeatTimeoutMs).toISOString();
    for (const tracked of await this.tracker.silentSince(before)) await this.act(decideTimeout(tracked, this.settings));
  }

  /**
   * After a restart of the embedded service, the jobs that were running died with the old
   * process, and the in-process queue lost the ones waiting: hand each out again right away
   * instead of waiting for a timeout. Returns how many.
   */
  async recoverOpenJobs(): Promise<number> {
    let recovered = 0;
    for (const tracked of await this.tracker.open()) {
      const actions = decideOnRecovery(tracked, this.settings, this.bus);
      if (actions.length > 0) recovered += 1;
      await this.act(actions);
    }
    return recovered;
  }

  stop(): void {
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
  }

  /** The aggregates a request decision asked to see. */
  private async lookups(event: DomainEvent): Promise<JobLookups> {
    const needs = needsOf(event);
    const seen: JobLookups = {};
    if (needs?.sourceId !== undefined) seen.source = (await this.aggregates.load(sourceDecider, Streams.source(needs.sourceId))).state;
    if (needs?.backupId !== undefined) seen.backup = (await this.aggregates.load(backupDecider, Streams.backup(needs.backupId))).state;
    return seen;
  }

  /** Carries out the decided actions, in order. */
  private async act(actions: JobAction[]): Promise<void> {
    for (const action of actions) await this.perform(action);
  }

  private async perform(action: JobAction): Promise<void> {
    switch (action.type) {
      case 'dispatch':
        return this.dispatch(action);
      case 'close':
        for (const tracked of await this.tracker.openFor(action.aggregateId)) {
          if (action.cancelWorkers) await this.bus.publishControl({ jobId: tracked.job.jobId, action: 'cancel', at: this.now() });
          await this.tracker.markDone(tracked.job.jobId, this.now());
        }
        return;
      case 'publish':
        return this.bus.publishJob(action.job);
      case 'markRunning':
        return this.tracker.markRunning(action.jobId, this.now());
      case 'touch':
        return this.tracker.touch(action.jobId, this.now(), action.progress);
      case 'issue':
        // Refused when the aggregate has moved on (cancelled, or already settled by a duplicate).
        if (await executeUnlessMovedOn(this.commands, action.message)) {
          if (action.ifAccepted) this.logger.warn(action.ifAccepted);
        } else if (action.ifRefused) {
          await this.act(action.ifRefused);
        }
        return;
      case 'markDone':
        return this.tracker.markDone(action.jobId, this.now());
      case 'retry': {
        const { job } = action;
        if (!(await this.tracker.markDispatched(job.jobId, job.attempt, this.now()))) return;
        this.logger.warn(`job ${job.jobId} attempt ${job.attempt - 1} failed (${action.failure.code}); retrying as attempt ${job.attempt}`);
        this.later(action.delayMs, () => this.bus.publishJob(job));
        return;
      }
    }
  }

  private async dispatch({ job, aggregateId }: Extract<JobAction, { type: 'dispatch' }>): Promise<void> {
    const isNew = await this.tracker.record(job, aggregateId, this.now());
    if (!isNew) {
      // A redelivered request: publish again only if the job never settled (the worker is idempotent by job id).
      const tracked = await this.tracker.get(job.jobId);
      if (!tracked || tracked.status !== 'dispatched') return;
      return this.bus.publishJob(tracked.job);
    }
    await this.bus.publishJob(job);
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
