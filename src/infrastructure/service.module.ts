import { DynamicModule, Logger, Module, Provider, ValidationPipe } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR, APP_PIPE } from '@nestjs/core';
import { CqrsModule } from '@nestjs/cqrs';
import { BackupCommandHandler, BackupRequests } from '../application/commands/backups';
import { RestoreCommandHandler, RestoreRequests } from '../application/commands/restores';
import { SourceCommandHandler, SourceRequests } from '../application/commands/sources';
import { SubjectCommandHandler, SubjectRequests } from '../application/commands/subjects';
import { JobCommandHandler } from '../application/commands/jobs';
import { SubjectPseudonyms } from '../application/ports/pseudonyms';
import { SubjectsProjection } from '../application/projections/subjects.projection';
import { SUBJECT_QUERY_HANDLERS } from '../application/queries/subject.queries';
import { GetBackupProblemsHandler } from '../application/queries/backup-problems.query';
import { RepositorySnapshotProblems } from './repository/repository-snapshot-problems';
import { GetSourceProcessingFactsHandler } from '../application/queries/processing-record.query';
import { GetRetentionStatusHandler } from '../application/queries/retention.queries';
import { GetProjectionStatusHandler } from '../application/queries/projection-status.query';
import { ProjectionsController } from './http/projections.controller';
import { RestoreTestScheduler } from '../application/process-managers/restore-test.scheduler';
import { RetentionEnforcer } from '../application/process-managers/retention.enforcer';
import { RetentionController } from './http/retention.controller';
import { SubjectsController } from './http/subjects.controller';
import { JobTracker } from '../application/process-managers/job-tracker';
import { JobsProcessManager } from '../application/process-managers/jobs.process-manager';
import { JobsSubscription } from '../application/process-managers/jobs.subscription';
import { systemClock } from '../application/ports/clock';
import { CheckpointStore, EventStore } from '../application/ports/event-store';
import { JobBus } from '../application/ports/job-bus';
import { AuditTrailProjection } from '../application/projections/audit-trail.projection';
import { BackupCatalogProjection } from '../application/projections/backup-catalog.projection';
import { ProjectionRunner } from '../application/projections/projection-runner';
import { ReadModel } from '../application/projections/read-model';
import { RestoreHistoryProjection } from '../application/projections/restore-history.projection';
import { SourcesProjection } from '../application/projections/sources.projection';
import { AUDIT_QUERY_HANDLERS } from '../application/queries/audit.queries';
import { QUERY_HANDLERS } from '../application/queries/catalog.queries';
import {
  CHECKPOINT_STORE,
  CLOCK,
  EVENT_STORE,
  JOB_BUS,
  READ_MODEL,
  RETENTION_POLICY,
  SETTINGS,
  SNAPSHOT_PROBLEMS,
  SOURCE_PATHS,
  RESTORE_TARGET_GATE,
  SUBJECT_PSEUDONYMS,
  SUBJECT_RULE_SYNTAX,
  LEADERSHIP,
} from '../application/tokens';
import { JobWorker } from '../worker/job-worker';
import { openEventStore, openJobBus, openLeadership, openReadModel } from './adapters';
import { JobAttemptsProjection } from '../application/projections/job-attempts.projection';
import { Leadership } from '../application/ports/leadership';
import { KafkaIntegrationPublisher } from './bus/kafka-integration-publisher';
import { KafkaJobBus } from './bus/kafka-job-bus';
import { Configuration } from './config/configuration';
import { CONFIGURATION } from './configuration.token';
import { AuditController } from './http/audit.controller';
import { BackupsController } from './http/backups.controller';
import { ApiErrorFilter } from './http/error.filter';
import { IdempotencyInterceptor } from './http/idempotency.interceptor';
import { CustodiaResolver } from './graphql/resolvers';
import { graphQLModule } from './graphql/graphql.module';
import { ThrottlerModule } from '@nestjs/throttler';
import { CommandThrottlerGuard } from './http/command-throttler.guard';
import { AccessGuard } from './http/access.guard';
import { HealthController } from './http/health.controller';
import { RestoreTargets } from './persistence/restore-targets';
import { engineSubjectRuleSyntax } from './repository/engine-subject-rule-syntax';
import { RestoresController } from './http/restores.controller';
import { SourcesController } from './http/sources.controller';
import { IntegrationEventsRelay, INTEGRATION_PUBLISHER } from './orchestration/integration-events.relay';
import { Orchestrator, WORKER_IN_PROCESS } from './orchestration/orchestrator';
import { WorkerLifecycle } from './orchestration/worker-lifecycle';
import { NodeSourcePaths } from './persistence/node-source-paths';
import { PathConfinement } from './persistence/path-confinement';
import { prepareDataDir } from './config/file-permissions';
import { ServiceRepositoryProvider } from './repository/service-repository.provider';

/** Adapters opened before Nest starts, so that an unreachable server is one clear line, not a stack. */
export interface OpenedAdapters {
  eventStore: EventStore & CheckpointStore;
  readModel: ReadModel;
  bus: JobBus;
  leadership: Leadership;
}

export async function openAdapters(config: Configuration): Promise<OpenedAdapters> {
  const eventStore = await openEventStore(config);
  // After the event store: on a fresh PostgreSQL schema both would otherwise create it at once.
  const readModel = await openReadModel(config);
  const bus = await openJobBus(config);
  return { eventStore, readModel, bus, leadership: openLeadership(config) };
}

export function projectionsFor(events: EventStore, db: ReadModel): ProjectionRunner {
  return new ProjectionRunner(events, db, [
    new SourcesProjection(),
    new BackupCatalogProjection(),
    new RestoreHistoryProjection(),
    new AuditTrailProjection(),
    new SubjectsProjection(),
    new JobAttemptsProjection(),
  ]);
}

const repositoryProvider = (config: Configuration): Provider => ({
  provide: ServiceRepositoryProvider,
  useFactory: () => new ServiceRepositoryProvider(config),
});

function workerProvider(config: Configuration): Provider {
  return {
    provide: JobWorker,
    useFactory: async (bus: JobBus, repositories: ServiceRepositoryProvider) =>
      new JobWorker(bus, repositories, systemClock, {
        heartbeatIntervalMs: config.heartbeatIntervalMs,
        workerId: config.workerId,
        pseudonymise: await repositories.pseudonymiser(),
        // The same rules as the API's, from the same settings, checked again as each job starts.
        paths: PathConfinement.of(config),
      }),
    inject: [JOB_BUS, ServiceRepositoryProvider],
  };
}

/** The REST API; each handler names the permission it needs (AccessGuard). */
export const API_CONTROLLERS = [
  SourcesController,
  BackupsController,
  RestoresController,
  AuditController,
  SubjectsController,
  RetentionController,
  ProjectionsController,
  HealthController,
];

/**
 * The control plane (`custodia serve`, `npm start`): API, command handlers, the jobs process
 * manager and projections, with adapters chosen by configuration. With the in-process bus it
 * also runs the worker, which is the embedded default: one process, no server.
 */
@Module({})
export class ServiceModule {
  static forRoot(config: Configuration, adapters?: OpenedAdapters): DynamicModule {
    prepareDataDir(config.dataDir, new Logger('Files'));
    return {
      module: ServiceModule,
      imports: [
        CqrsModule.forRoot(),
        graphQLModule(config.apiTokens),
        ThrottlerModule.forRoot({ throttlers: [{ name: 'default', ttl: 60_000, limit: config.commandsPerMinute }] }),
      ],
      controllers: API_CONTROLLERS,
      providers: [
        { provide: CONFIGURATION, useValue: config },
        { provide: SETTINGS, useValue: config.orchestration },
        { provide: RETENTION_POLICY, useValue: config.retention },
        { provide: CLOCK, useValue: systemClock },
        { provide: EVENT_STORE, useFactory: () => adapters?.eventStore ?? openEventStore(config) },
        { provide: CHECKPOINT_STORE, useExisting: EVENT_STORE },
        { provide: READ_MODEL, useFactory: () => adapters?.readModel ?? openReadModel(config), inject: [EVENT_STORE] },
        { provide: JOB_BUS, useFactory: () => adapters?.bus ?? openJobBus(config) },
        { provide: WORKER_IN_PROCESS, useValue: config.workerInProcess },
        { provide: LEADERSHIP, useFactory: () => adapters?.leadership ?? openLeadership(config) },
        { provide: PathConfinement, useValue: PathConfinement.of(config) },
        {
          provide: SOURCE_PATHS,
          useFactory: (confinement: PathConfinement) => new NodeSourcePaths(confinement),
          inject: [PathConfinement],
        },
        {
          provide: RESTORE_TARGET_GATE,
          useFactory: (confinement: PathConfinement, db: ReadModel) => new RestoreTargets(confinement, config.restoreRoots, db),
          inject: [PathConfinement, READ_MODEL],
        },
        { provide: JobTracker, useFactory: (db: ReadModel) => new JobTracker(db), inject: [READ_MODEL] },
        { provide: ProjectionRunner, useFactory: projectionsFor, inject: [EVENT_STORE, READ_MODEL] },
        repositoryProvider(config),
        {
          provide: SUBJECT_PSEUDONYMS,
          useFactory: async (repositories: ServiceRepositoryProvider): Promise<SubjectPseudonyms> => {
            const pseudonymise = await repositories.pseudonymiser();
            return { pseudonymOf: pseudonymise };
          },
          inject: [ServiceRepositoryProvider],
        },
        {
          provide: SNAPSHOT_PROBLEMS,
          useFactory: (repositories: ServiceRepositoryProvider) => new RepositorySnapshotProblems(repositories),
          inject: [ServiceRepositoryProvider],
        },
        GetBackupProblemsHandler,
        ...(config.workerInProcess ? [workerProvider(config)] : []),
        {
          provide: INTEGRATION_PUBLISHER,
          useFactory: (bus: JobBus) =>
            bus instanceof KafkaJobBus ? new KafkaIntegrationPublisher(config.kafka.brokers, bus.topics.integrationEvents) : null,
          inject: [JOB_BUS],
        },
        IntegrationEventsRelay,
        { provide: SUBJECT_RULE_SYNTAX, useValue: engineSubjectRuleSyntax },
        SourceRequests,
        BackupRequests,
        RestoreRequests,
        SubjectRequests,
        CustodiaResolver,
        SourceCommandHandler,
        BackupCommandHandler,
        RestoreCommandHandler,
        SubjectCommandHandler,
        JobCommandHandler,
        ...QUERY_HANDLERS,
        ...SUBJECT_QUERY_HANDLERS,
        GetSourceProcessingFactsHandler,
        GetRetentionStatusHandler,
        GetProjectionStatusHandler,
        RestoreTestScheduler,
        RetentionEnforcer,
        ...AUDIT_QUERY_HANDLERS,
        JobsProcessManager,
        JobsSubscription,
        Orchestrator,
        { provide: APP_FILTER, useClass: ApiErrorFilter },
        { provide: APP_GUARD, useClass: AccessGuard },
        // After the AccessGuard, which names the caller the limit counts for; 0 turns it off.
        ...(config.commandsPerMinute > 0 ? [{ provide: APP_GUARD, useClass: CommandThrottlerGuard }] : []),
        { provide: APP_INTERCEPTOR, useClass: IdempotencyInterceptor },
        {
          provide: APP_PIPE,
          useValue: new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true, stopAtFirstError: false }),
        },
      ],
    };
  }
}

/** A worker process (`custodia worker`): takes jobs from Kafka and runs the engine. */
@Module({})
export class WorkerModule {
  static forRoot(config: Configuration, bus?: JobBus): DynamicModule {
    return {
      module: WorkerModule,
      providers: [
        { provide: JOB_BUS, useFactory: () => bus ?? openJobBus(config) },
        repositoryProvider(config),
        workerProvider(config),
        WorkerLifecycle,
      ],
    };
  }
}
