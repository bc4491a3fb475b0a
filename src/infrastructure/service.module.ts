import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { DynamicModule, Module, ValidationPipe } from '@nestjs/common';
import { APP_FILTER, APP_INTERCEPTOR, APP_PIPE } from '@nestjs/core';
import { CqrsModule } from '@nestjs/cqrs';
import { BackupCommandHandler } from '../application/commands/backup-command.handler';
import { RestoreCommandHandler } from '../application/commands/restore-command.handler';
import { SourceCommandHandler } from '../application/commands/source-command.handler';
import { JobTracker } from '../application/process-managers/job-tracker';
import { JobsProcessManager } from '../application/process-managers/jobs.process-manager';
import { systemClock } from '../application/ports/clock';
import { EventStore } from '../application/ports/event-store';
import { JobBus } from '../application/ports/job-bus';
import { BackupCatalogProjection } from '../application/projections/backup-catalog.projection';
import { ProjectionRunner } from '../application/projections/projection-runner';
import { ReadModel } from '../application/projections/read-model';
import { RestoreHistoryProjection } from '../application/projections/restore-history.projection';
import { SourcesProjection } from '../application/projections/sources.projection';
import { QUERY_HANDLERS } from '../application/queries/catalog.queries';
import { CHECKPOINT_STORE, CLOCK, EVENT_STORE, JOB_BUS, READ_MODEL, SETTINGS, SOURCE_PATHS } from '../application/tokens';
import { JobWorker } from '../worker/job-worker';
import { InProcessJobBus } from './bus/in-process-job-bus';
import { Configuration } from './config/configuration';
import { SqliteEventStore } from './event-store/sqlite-event-store';
import { BackupsController } from './http/backups.controller';
import { ApiErrorFilter } from './http/error.filter';
import { IdempotencyInterceptor } from './http/idempotency.interceptor';
import { RestoreTargets } from './http/restore-targets';
import { RestoresController } from './http/restores.controller';
import { SourcesController } from './http/sources.controller';
import { Orchestrator } from './orchestration/orchestrator';
import { NodeSourcePaths } from './persistence/node-source-paths';
import { openSqliteReadModel } from './persistence/sqlite-read-model';
import { EmbeddedRepositoryProvider } from './repository/embedded-repository.provider';

export const CONFIGURATION = Symbol('Configuration');

/**
 * Where the embedded mode keeps its event log, and its read models and job state. Two files:
 * each then has a single writing connection, so SQLite never has to refuse a transaction's
 * upgrade from reading to writing because the other connection committed in between.
 */
export function eventStoreFile(config: Configuration): string {
  return path.join(config.dataDir, 'events.db');
}

export function readModelFile(config: Configuration): string {
  return path.join(config.dataDir, 'readmodel.db');
}

export function projectionsFor(events: EventStore, db: ReadModel): ProjectionRunner {
  return new ProjectionRunner(events, db, [new SourcesProjection(), new BackupCatalogProjection(), new RestoreHistoryProjection()]);
}

/**
 * The whole service in one process on embedded defaults: SQLite event store and read models in
 * DATA_DIR, the in-process job bus, and the worker running the engine on DATA_DIR/repository.
 */
@Module({})
export class EmbeddedModule {
  static forRoot(config: Configuration): DynamicModule {
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    const eventStore = new SqliteEventStore(eventStoreFile(config));
    return {
      module: EmbeddedModule,
      imports: [CqrsModule.forRoot()],
      controllers: [SourcesController, BackupsController, RestoresController],
      providers: [
        { provide: CONFIGURATION, useValue: config },
        { provide: SETTINGS, useValue: config.orchestration },
        { provide: CLOCK, useValue: systemClock },
        { provide: EVENT_STORE, useValue: eventStore },
        { provide: CHECKPOINT_STORE, useValue: eventStore },
        { provide: READ_MODEL, useFactory: () => openSqliteReadModel(readModelFile(config)) },
        { provide: JOB_BUS, useFactory: () => new InProcessJobBus({ concurrency: config.workerConcurrency }) },
        { provide: SOURCE_PATHS, useClass: NodeSourcePaths },
        { provide: RestoreTargets, useFactory: () => new RestoreTargets(config.restoreRoots) },
        { provide: EmbeddedRepositoryProvider, useFactory: () => new EmbeddedRepositoryProvider(config) },
        { provide: JobTracker, useFactory: (db: ReadModel) => new JobTracker(db), inject: [READ_MODEL] },
        { provide: ProjectionRunner, useFactory: projectionsFor, inject: [EVENT_STORE, READ_MODEL] },
        {
          provide: JobWorker,
          useFactory: (bus: JobBus, repositories: EmbeddedRepositoryProvider) =>
            new JobWorker(bus, repositories, systemClock, { heartbeatIntervalMs: config.heartbeatIntervalMs }),
          inject: [JOB_BUS, EmbeddedRepositoryProvider],
        },
        SourceCommandHandler,
        BackupCommandHandler,
        RestoreCommandHandler,
        ...QUERY_HANDLERS,
        JobsProcessManager,
        Orchestrator,
        { provide: APP_FILTER, useClass: ApiErrorFilter },
        { provide: APP_INTERCEPTOR, useClass: IdempotencyInterceptor },
        {
          provide: APP_PIPE,
          useValue: new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true, stopAtFirstError: false }),
        },
      ],
      exports: [Orchestrator, EVENT_STORE, READ_MODEL, ProjectionRunner, EmbeddedRepositoryProvider],
    };
  }
}
