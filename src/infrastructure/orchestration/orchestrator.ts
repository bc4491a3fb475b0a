import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
  Optional,
} from '@nestjs/common';
import { RestoreTestScheduler } from '../../application/process-managers/restore-test.scheduler';
import { RetentionEnforcer } from '../../application/process-managers/retention.enforcer';
import { JobsSubscription } from '../../application/process-managers/jobs.subscription';
import { EventStore } from '../../application/ports/event-store';
import { JobBus } from '../../application/ports/job-bus';
import { ProjectionRunner } from '../../application/projections/projection-runner';
import { OrchestrationSettings } from '../../application/settings';
import { describeForLog } from '../../application/describe-for-log';
import { EVENT_STORE, JOB_BUS, LEADERSHIP, READ_MODEL, SETTINGS } from '../../application/tokens';
import { Leadership } from '../../application/ports/leadership';
import { ReadModel } from '../../application/projections/read-model';
import { JobWorker } from '../../worker/job-worker';
import { IntegrationEventsRelay } from './integration-events.relay';

/** Whether this process runs the worker itself (the embedded mode). */
export const WORKER_IN_PROCESS = Symbol('WorkerInProcess');

/**
 * Starts and stops the moving parts of the service in the right order. Every `serve` process
 * answers the API; the parts that react to the log (projections, the jobs process manager with
 * its worker statuses and supervision, the integration-events relay, the retention timer, and
 * with the in-process bus the worker) run only in the process that holds the lease
 * (Leadership), and move to another when it dies.
 */
@Injectable()
export class Orchestrator implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger(Orchestrator.name);
  private restoreTests: NodeJS.Timeout | null = null;

  constructor(
    @Inject(EVENT_STORE) private readonly events: EventStore,
    @Inject(JOB_BUS) private readonly bus: JobBus,
    @Inject(SETTINGS) private readonly settings: OrchestrationSettings,
    @Inject(READ_MODEL) private readonly readModel: ReadModel,
    @Inject(LEADERSHIP) private readonly leadership: Leadership,
    private readonly jobs: JobsSubscription,
    private readonly restoreTestScheduler: RestoreTestScheduler,
    private readonly retentionEnforcer: RetentionEnforcer,
    private readonly projections: ProjectionRunner,
    private readonly relay: IntegrationEventsRelay,
    @Inject(WORKER_IN_PROCESS) private readonly workerInProcess: boolean,
    @Optional() @Inject(JobWorker) private readonly worker: JobWorker | null,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.leadership.campaign({ lead: () => this.lead(), stepDown: () => this.stepDown() });
  }

  /** This process won the lease: start everything that must run once. */
  private async lead(): Promise<void> {
    this.projections.start();
    await this.jobs.listenToWorkers();
    if (this.workerInProcess && this.worker) {
      await this.worker.start();
      // Jobs open at the last stop died with that process: hand them out again right away.
      // (Separate workers may still be running theirs; the heartbeat timeout covers those.)
      const recovered = await this.jobs.recoverOpenJobs();
      if (recovered > 0) this.logger.warn(`re-dispatched ${recovered} job(s) left open by the previous run`);
    }
    this.jobs.followLog();
    this.relay.start();
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

  /** The lease is lost or the process stops: stop all of it, the reverse way. */
  private async stepDown(): Promise<void> {
    if (this.restoreTests) clearInterval(this.restoreTests);
    this.restoreTests = null;
    await this.relay.stop();
    await this.jobs.stopFollowing();
    await this.worker?.stop();
    await this.jobs.stopListening();
    await this.projections.stop();
  }

  /** First every moving part stops (Nest runs these hooks before any onApplicationShutdown)... */
  async beforeApplicationShutdown(): Promise<void> {
    await this.leadership.stop();
    await this.relay.close();
  }

  /** ...then the connections close, when nothing uses them any more. */
  async onApplicationShutdown(): Promise<void> {
    await this.bus.close();
    await this.events.close();
    await this.readModel.destroy();
  }

  /** Resolves once projections and the process manager have handled the log up to `position` (in the leading process). */
  async settled(position: number): Promise<void> {
    await Promise.all([this.projections.waitFor(position), this.jobs.waitFor(position)]);
  }
}
