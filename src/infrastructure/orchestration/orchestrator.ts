import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
  Optional,
} from '@nestjs/common';
import { EventBus } from '@nestjs/cqrs';
import { JobsProcessManager } from '../../application/process-managers/jobs.process-manager';
import { RestoreTestScheduler } from '../../application/process-managers/restore-test.scheduler';
import { RetentionEnforcer } from '../../application/process-managers/retention.enforcer';
import { CheckpointStore, EventStore } from '../../application/ports/event-store';
import { JobBus, Unsubscribe } from '../../application/ports/job-bus';
import { ProjectionRunner } from '../../application/projections/projection-runner';
import { OrchestrationSettings } from '../../application/settings';
import { describeForLog } from '../../application/describe-for-log';
import { CatchUpSubscription } from '../../application/subscriptions/catch-up-subscription';
import { CHECKPOINT_STORE, EVENT_STORE, JOB_BUS, READ_MODEL, SETTINGS } from '../../application/tokens';
import { ReadModel } from '../../application/projections/read-model';
import { JobWorker } from '../../worker/job-worker';

const PROCESS_MANAGER_SUBSCRIPTION = 'process-manager:jobs';

/** Whether this process runs the worker itself (the embedded mode). */
export const WORKER_IN_PROCESS = Symbol('WorkerInProcess');

/** The recorded event, as published on Nest's EventBus for in-process listeners. */
export class EventRecorded {
  constructor(readonly event: import('../../application/ports/event-store').RecordedEvent) {}
}

/**
 * Starts and stops the moving parts of the embedded service in the right order: projections,
 * the process manager's durable subscription, the job-status consumer, the in-process worker,
 * and the supervisor that retries or fails silent jobs.
 */
@Injectable()
export class Orchestrator implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger(Orchestrator.name);
  private readonly processManagerSubscription: CatchUpSubscription;
  private stopStatuses: Unsubscribe | null = null;
  private supervisor: NodeJS.Timeout | null = null;
  private restoreTests: NodeJS.Timeout | null = null;

  constructor(
    @Inject(EVENT_STORE) private readonly events: EventStore,
    @Inject(CHECKPOINT_STORE) private readonly checkpoints: CheckpointStore,
    @Inject(JOB_BUS) private readonly bus: JobBus,
    @Inject(SETTINGS) private readonly settings: OrchestrationSettings,
    @Inject(READ_MODEL) private readonly readModel: ReadModel,
    private readonly processManager: JobsProcessManager,
    private readonly restoreTestScheduler: RestoreTestScheduler,
    private readonly retentionEnforcer: RetentionEnforcer,
    private readonly projections: ProjectionRunner,
    private readonly eventBus: EventBus,
    @Inject(WORKER_IN_PROCESS) private readonly workerInProcess: boolean,
    @Optional() @Inject(JobWorker) private readonly worker: JobWorker | null,
  ) {
    this.processManagerSubscription = new CatchUpSubscription(PROCESS_MANAGER_SUBSCRIPTION, events, {
      loadCheckpoint: () => checkpoints.load(PROCESS_MANAGER_SUBSCRIPTION),
      handleBatch: async (batch) => {
        for (const event of batch) {
          await this.processManager.handleEvent(event);
          await this.checkpoints.save(PROCESS_MANAGER_SUBSCRIPTION, event.position);
          this.eventBus.publish(new EventRecorded(event));
        }
      },
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    this.projections.start();
    this.stopStatuses = await this.bus.consumeStatuses((status) => this.processManager.handleStatus(status));
    if (this.workerInProcess && this.worker) {
      await this.worker.start();
      // Jobs open at the last stop died with that process: hand them out again right away.
      // (Separate workers may still be running theirs; the heartbeat timeout covers those.)
      const recovered = await this.processManager.recoverOpenJobs();
      if (recovered > 0) this.logger.warn(`re-dispatched ${recovered} job(s) left open by the previous run`);
    }
    this.processManagerSubscription.start();
    this.supervisor = setInterval(() => {
      this.processManager
        .superviseOpenJobs()
        .catch((error: unknown) => this.logger.error(`job supervision failed (${describeForLog(error)})`));
    }, this.settings.jobSupervisionIntervalMs);
    this.supervisor.unref();
    // The retention policy's two duties share one timer: restore tests due, expired backups.
    this.restoreTests = setInterval(() => {
      this.restoreTestScheduler
        .requestDueTests()
        .catch((error: unknown) => this.logger.error(`restore-test scheduling failed (${describeForLog(error)})`));
      this.retentionEnforcer
        .deleteExpired()
        .catch((error: unknown) => this.logger.error(`retention enforcement failed (${describeForLog(error)})`));
    }, this.settings.restoreTestCheckIntervalMs);
    this.restoreTests.unref();
  }

  /** First every moving part stops (Nest runs these hooks before any onApplicationShutdown)... */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.supervisor) clearInterval(this.supervisor);
    if (this.restoreTests) clearInterval(this.restoreTests);
    this.processManager.stop();
    await this.processManagerSubscription.stop();
    await this.worker?.stop();
    await this.stopStatuses?.();
    await this.projections.stop();
  }

  /** ...then the connections close, when nothing uses them any more. */
  async onApplicationShutdown(): Promise<void> {
    await this.bus.close();
    await this.events.close();
    await this.readModel.destroy();
  }

  /** Resolves once projections and the process manager have handled the log up to `position`. */
  async settled(position: number): Promise<void> {
    await Promise.all([this.projections.waitFor(position), this.processManagerSubscription.waitFor(position)]);
  }
}
