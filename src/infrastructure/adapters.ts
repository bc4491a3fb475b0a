import { Logger } from '@nestjs/common';
import * as path from 'node:path';
import { CheckpointStore, EventStore } from '../application/ports/event-store';
import { JobBus } from '../application/ports/job-bus';
import { ReadModel } from '../application/projections/read-model';
import { describeForLog } from '../application/describe-for-log';
import { UpcastingEventStore } from '../application/upcasting-event-store';
import { InProcessJobBus } from './bus/in-process-job-bus';
import { KafkaJobBus } from './bus/kafka-job-bus';
import { Configuration, ConfigurationError } from './config/configuration';
import { prepareDataDir } from './config/file-permissions';
import { EventStoreDbEventStore } from './event-store/eventstoredb-event-store';
import { PostgresEventStore } from './event-store/postgres-event-store';
import { SqliteEventStore } from './event-store/sqlite-event-store';
import { openPostgresReadModel } from './persistence/postgres-read-model';
import { openSqliteReadModel } from './persistence/sqlite-read-model';
import { SchemaMigrationError } from './persistence/schema-migrations';
import { Leadership } from '../application/ports/leadership';
import { DataDirLock } from './leadership/data-dir-lock';
import { PostgresLeadership } from './leadership/postgres-leadership';

/**
 * Chooses the adapter for each port from the configuration (EVENT_STORE, BUS, STORAGE) and turns
 * an unreachable server into one clear start-up error naming the server and the setting to check.
 */
export function eventStoreFile(config: Configuration): string {
  return path.join(config.dataDir, 'events.db');
}

/**
 * The embedded read models and job state live in a second file: each file then has a single
 * writing connection, so SQLite never has to refuse a transaction's upgrade from reading to
 * writing because the other connection committed in between.
 */
export function readModelFile(config: Configuration): string {
  return path.join(config.dataDir, 'readmodel.db');
}

export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigurationError';
  }
}

async function reach<T>(what: string, setting: string, connect: () => Promise<T>): Promise<T> {
  try {
    return await connect();
  } catch (error) {
    // A reached database whose schema could not be migrated says so itself (store and migration).
    if (error instanceof ConfigurationError || error instanceof SchemaMigrationError) throw error;
    const detail = error instanceof Error && 'code' in error ? String((error as { code: unknown }).code) : describeForLog(error);
    throw new StartupError(`cannot reach ${what} (${detail}); check ${setting}`);
  }
}

function postgresConnection(config: Configuration) {
  return config.postgres.connectionString
    ? { connectionString: config.postgres.connectionString, connectionTimeoutMillis: 10_000 }
    : { connectionTimeoutMillis: 10_000 };
}

/** The configured event store, read through the upcasters: its events come out in their current shapes. */
export async function openEventStore(config: Configuration): Promise<EventStore & CheckpointStore> {
  return new UpcastingEventStore(await openEventStoreAdapter(config));
}

async function openEventStoreAdapter(config: Configuration): Promise<EventStore & CheckpointStore> {
  switch (config.eventStore) {
    case 'sqlite':
      prepareDataDir(config.dataDir, new Logger('Files'));
      return SqliteEventStore.open(eventStoreFile(config));
    case 'postgres':
      return reach('PostgreSQL', 'DATABASE_URL or PGHOST', () =>
        PostgresEventStore.open({ connection: postgresConnection(config), schema: config.postgres.schema }),
      );
    case 'eventstoredb':
      return reach('EventStoreDB', 'EVENTSTORE_CONNECTION_STRING', () =>
        EventStoreDbEventStore.open(config.eventStoreDbConnectionString ?? ''),
      );
  }
}

/** Whether the read models (and so the job table and the lease) are the embedded SQLite file. */
function embeddedReadModel(config: Configuration): boolean {
  return config.eventStore === 'sqlite' || (config.eventStore === 'eventstoredb' && !config.postgres.connectionString);
}

/**
 * The control plane's lease sits with the read models: an exclusive lock on DATA_DIR when they
 * are embedded (one process), a PostgreSQL advisory lock per schema otherwise (many processes).
 */
export function openLeadership(config: Configuration): Leadership {
  if (embeddedReadModel(config)) {
    prepareDataDir(config.dataDir, new Logger('Files'));
    return new DataDirLock(config.dataDir);
  }
  return new PostgresLeadership(postgresConnection(config), `custodia-control-plane:${config.postgres.schema}`, {
    pollIntervalMs: config.leaderPollIntervalMs,
  });
}

/** Read models sit next to the events: SQLite beside the SQLite log, PostgreSQL otherwise. */
export async function openReadModel(config: Configuration): Promise<ReadModel> {
  if (embeddedReadModel(config)) {
    prepareDataDir(config.dataDir, new Logger('Files'));
    return openSqliteReadModel(readModelFile(config));
  }
  return reach('PostgreSQL', 'DATABASE_URL or PGHOST', () =>
    openPostgresReadModel({ connection: postgresConnection(config), schema: config.postgres.schema }),
  );
}

export async function openJobBus(config: Configuration): Promise<JobBus> {
  if (config.bus === 'inprocess') return new InProcessJobBus({ concurrency: config.workerConcurrency });
  const bus = new KafkaJobBus({
    brokers: config.kafka.brokers,
    topicPrefix: config.kafka.topicPrefix,
    partitions: config.kafka.partitions,
    concurrency: config.workerConcurrency,
    sessionTimeoutMs: config.kafka.sessionTimeoutMs,
  });
  await reach(`Kafka at ${config.kafka.brokers.join(',')}`, 'KAFKA_BROKERS', () => bus.start());
  return bus;
}
