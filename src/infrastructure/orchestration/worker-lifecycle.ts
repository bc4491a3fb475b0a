import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { JobBus } from '../../application/ports/job-bus';
import { JOB_BUS } from '../../application/tokens';
import { JobWorker } from '../../worker/job-worker';
import { ServiceRepositoryProvider } from '../repository/service-repository.provider';

/** Starts a worker process's consumer after the repository opens, and stops it gracefully. */
@Injectable()
export class WorkerLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Worker');

  constructor(
    private readonly worker: JobWorker,
    private readonly repositories: ServiceRepositoryProvider,
    @Inject(JOB_BUS) private readonly bus: JobBus,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.repositories.repository();
    await this.worker.start();
    this.logger.log(`taking jobs; repository ${this.repositories.location}`);
  }

  async onApplicationShutdown(): Promise<void> {
    // Stopping the consumer lets the running job finish; its offset is committed only then.
    await this.worker.stop();
    await this.bus.close();
  }
}
