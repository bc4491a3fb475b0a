import { sql } from 'kysely';
import { ReadModel } from '../../src/application/projections/read-model';
import { PostgresEventStore } from '../../src/infrastructure/event-store/postgres-event-store';
import { openPostgresReadModel } from '../../src/infrastructure/persistence/postgres-read-model';
import { readModelContract } from '../contract/read-model.contract';
import { dropSchema, postgresConnection, uniqueSchema } from './support/postgres';

/** Both stores in one schema of the test's own, dropped afterwards. */
readModelContract('PostgreSQL read model', async () => {
  const schema = uniqueSchema('read_model');
  const events = await PostgresEventStore.open({ connection: postgresConnection(), schema });
  const open = () => openPostgresReadModel({ connection: postgresConnection(), schema });
  return {
    events,
    db: await open(),
    reopen: open,
    cleanup: async () => {
      await events.close();
      await dropSchema(schema);
    },
  };
});

/** The schema and stores of a test of its own, dropped afterwards. */
function useStores() {
  const state: { schema: string; events: PostgresEventStore; db: ReadModel; extra: ReadModel[] } = {} as never;
  beforeEach(async () => {
    state.schema = uniqueSchema('read_model');
    state.events = await PostgresEventStore.open({ connection: postgresConnection(), schema: state.schema });
    state.db = await openPostgresReadModel({ connection: postgresConnection(), schema: state.schema });
    state.extra = [];
  });
  afterEach(async () => {
    for (const db of [state.db, ...state.extra]) await db.destroy();
    await state.events.close();
    await dropSchema(state.schema);
  });
  return state;
}

describe('PostgreSQL read model', () => {
  const stores = useStores();

  it('creates its tables once, and opens an existing schema again', async () => {
    const again = await openPostgresReadModel({ connection: postgresConnection(), schema: stores.schema });
    stores.extra.push(again);

    expect(await again.selectFrom('projection_checkpoints').selectAll().execute()).toEqual([]);
    const { rows: tables } = await sql<{ table_name: string }>`
      SELECT table_name FROM information_schema.tables WHERE table_schema = ${stores.schema}`.execute(again);
    expect(tables.map((row) => row.table_name).sort()).toEqual(
      [
        'audit_entries',
        'backups',
        'checkpoints',
        'erasures',
        'event_log_head',
        'event_store_migration',
        'event_store_migration_lock',
        'event_store_schema',
        'events',
        'idempotency_keys',
        'job_attempts',
        'jobs',
        'projection_checkpoints',
        'projection_failures',
        'read_model_migration',
        'read_model_migration_lock',
        'restores',
        'sources',
        'subject_backups',
      ].sort(),
    );
  });
});
