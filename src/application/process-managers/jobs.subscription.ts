import { Inject, Injectable, Logger } from '@nestjs/common';
import { describeForLog } from '../describe-for-log';
import { CheckpointStore, EventStore } from '../ports/event-store';
import { JobBus, Unsubscribe } from '../ports/job-bus';
import { OrchestrationSettings } from '../settings';
import { CatchUpSubscription } from '../subscriptions/catch-up-subscription';
import { CHECKPOINT_STORE, EVENT_STORE, JOB_BUS, SETTINGS } from '../tokens';
import { JobsProcessManager } from './jobs.process-manager';

/** The process manager's checkpoint in the checkpoint store. */
export const JOBS_SUBSCRIPTION = 'process-manager:jobs';

/**
 * What drives the jobs process manager: its durable subscription to the log (each event handled,
 * then its position saved, so a restart resumes without losing or repeating a reaction beyond
 * at-least-once), the workers' status messages, and the supervision timer that retries or fails
 * jobs not heard from in time.
 */
@Injectable()
export class JobsSubscription {
  private readonly logger = new Logger(JobsSubscription.name);
  private readonly subscription: CatchUpSubscription;
  private stopStatuses: Unsubscribe | null = null;
  private supervisor: NodeJS.Timeout | null = null;

  constructor(
    @Inject(EVENT_STORE) events: EventStore,
    @Inject(CHECKPOINT_STORE) checkpoints: CheckpointStore,
    @Inject(JOB_BUS) private readonly bus: JobBus,
    @Inject(SETTINGS) private readonly settings: OrchestrationSettings,
    private readonly processManager: JobsProcessManager,
  ) {
    this.subscription = new CatchUpSubscription(JOBS_SUBSCRIPTION, events, {
      loadCheckpoint: () => checkpoints.load(JOBS_SUBSCRIPTION),
      handleBatch: async (batch) => {
        for (const event of batch) {
          await processManager.handleEvent(event);
          await checkpoints.save(JOBS_SUBSCRIPTION, event.position);
        }
      },
    });
  }

  /** First: status messages, so nothing a worker reports from now on goes unheard. */
  async listenToWorkers(): Promise<void> {
    this.stopStatuses = await this.bus.consumeStatuses((status) => this.processManager.handleStatus(status));
  }

  /** Then: the log from the checkpoint on, and the supervision of open jobs. */
  followLog(): void {
    this.subscription.start();
    // One pass at a time: a pass slower than the interval is not overlapped by the next.
    let supervising: Promise<void> | null = null;
    this.supervisor = setInterval(() => {
      if (supervising) return;
      supervising = this.processManager
        .superviseOpenJobs()
        .catch((error: unknown) => this.logger.error(`job supervision failed (${describeForLog(error)})`))
        .finally(() => (supervising = null));
    }, this.settings.jobSupervisionIntervalMs);
    this.supervisor.unref();
  }

  /** Jobs open when the last process stopped, handed out again; how many. */
  recoverOpenJobs(): Promise<number> {
    return this.processManager.recoverOpenJobs();
  }

  /** Stops following the log and supervising; status messages are still heard until stopListening. */
  async stopFollowing(): Promise<void> {
    if (this.supervisor) clearInterval(this.supervisor);
    this.processManager.stop();
    await this.subscription.stop();
  }

  async stopListening(): Promise<void> {
    await this.stopStatuses?.();
  }

  /** Resolves once the process manager has handled the log up to `position`. */
  waitFor(position: number): Promise<void> {
    return this.subscription.waitFor(position);
  }
}
