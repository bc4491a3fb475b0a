import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SqliteEventStore } from '../../src/infrastructure/event-store/sqlite-event-store';
import { SchemaMigrationError } from '../../src/infrastructure/persistence/schema-migrations';
import { openSqliteReadModel } from '../../src/infrastructure/persistence/sqlite-read-model';

/** The exact DDL of the last release before Migrator (see the fixture files' headers). */
const fixture = (name: string) => readFileSync(path.join(__dirname, '../fixtures/schemas', name), 'utf8');

/**
 * The embedded stores as the last release before Migrator left them (its tables, no migration
 * table) open with this build: their rows are kept, the Migrator records its migrations, and
 * opening again runs none.
 */
describe('SQLite schemas: upgrading from the release before Migrator', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-schema-upgrade-'));
  });
  afterEach(() => fs.rm(dir, { recursive: true, force: true }));

  /** Works on the file through a connection of its own, closed afterwards. */
  function withFile<T>(file: string, work: (database: Database.Database) => T): T {
    const database = new Database(file);
    try {
      return work(database);
    } finally {
      database.close();
    }
  }

  const migrationsIn = (file: string, table: string) =>
    withFile(file, (database) => database.prepare(`SELECT name, timestamp FROM ${table} ORDER BY name`).all() as { name: string }[]);

  it('read model: keeps the rows and checkpoints, records 001 and 002, and a second open changes nothing', async () => {
    const file = path.join(dir, 'readmodel.db');
    withFile(file, (database) => {
      database.exec(fixture('read-model.sql'));
      database.exec(`INSERT INTO sources (id, name, path, subject_rules, data_categories, purposes, status, registered_at, updated_at)
                     VALUES ('s1', 'letters', '/data', '[]', '["contact"]', '["archive"]', 'active', '2030-01-01', '2030-01-01')`);
      database.exec(`INSERT INTO jobs (job_id, kind, aggregate_id, job_key, payload, attempt, status, updated_at, progress)
                     VALUES ('j1', 'backup', 'b1', 'backup-b1', '{}', 2, 'dispatched', '2030-01-01', '{"files":3}')`);
      database.exec(`INSERT INTO projection_checkpoints (name, position) VALUES ('sources', 7), ('audit-trail', 7)`);
    });

    await (await openSqliteReadModel(file)).destroy();

    const rows = () =>
      withFile(file, (database) => ({
        sources: database.prepare('SELECT id, data_categories, purposes FROM sources').all(),
        jobs: database.prepare('SELECT job_id, attempt, progress FROM jobs').all(),
        checkpoints: database.prepare('SELECT name, position FROM projection_checkpoints ORDER BY name').all(),
      }));
    const before = rows();
    expect(before).toEqual({
      sources: [{ id: 's1', data_categories: '["contact"]', purposes: '["archive"]' }],
      jobs: [{ job_id: 'j1', attempt: 2, progress: '{"files":3}' }],
      checkpoints: [
        { name: 'audit-trail', position: 7 },
        { name: 'sources', position: 7 },
      ],
    });
    const applied = migrationsIn(file, 'read_model_migration');
    expect(applied.map((row) => row.name)).toEqual(['001_initial', '002_later_columns', '003_job_attempts']);

    await (await openSqliteReadModel(file)).destroy();
    expect(migrationsIn(file, 'read_model_migration')).toEqual(applied);
    expect(rows()).toEqual(before);
  });

  it('event store: keeps the events and checkpoints, records 001, and a second open changes nothing', async () => {
    const file = path.join(dir, 'events.db');
    const id = randomUUID();
    withFile(file, (database) => {
      database.exec(fixture('sqlite-event-store.sql'));
      database
        .prepare(
          `INSERT INTO events (id, stream, revision, type, schema_version, occurred_at, data, metadata)
           VALUES (?, 'source-1', 0, 'SourceRegistered', 1, '2030-01-01T00:00:00.000Z', '{"name":"letters"}', '{"correlationId":"c"}')`,
        )
        .run(id);
      database.exec(`INSERT INTO checkpoints (name, position) VALUES ('projection:sources', 1)`);
    });

    const store = await SqliteEventStore.open(file);
    try {
      const [event] = await store.readStream('source-1');
      expect(event).toMatchObject({ id, position: 1, revision: 0, type: 'SourceRegistered', data: { name: 'letters' } });
      expect(await store.load('projection:sources')).toBe(1);
    } finally {
      await store.close();
    }
    const applied = migrationsIn(file, 'event_store_migration');
    expect(applied.map((row) => row.name)).toEqual(['001_initial']);
    expect(withFile(file, (database) => database.pragma('user_version', { simple: true }))).toBe(1);

    await (await SqliteEventStore.open(file)).close();
    expect(migrationsIn(file, 'event_store_migration')).toEqual(applied);
    expect(withFile(file, (database) => database.prepare('SELECT COUNT(*) AS n FROM events').get())).toEqual({ n: 1 });
  });

  it('fails naming the store and the migration, and leaves the file as it was', async () => {
    const file = path.join(dir, 'readmodel.db');
    // A backups table the 001 index cannot be built on (no requested_at column).
    withFile(file, (database) => database.exec('CREATE TABLE backups (id text primary key, source_id text not null)'));

    const failure = await openSqliteReadModel(file).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(SchemaMigrationError);
    expect(failure).toMatchObject({ store: 'read model', migration: '001_initial' });
    expect((failure as Error).message).toMatch(/^read model schema: migration 001_initial failed: .*requested_at/);
    // One transaction: nothing of the failed run is left, not even the Migrator's tables.
    const tables = withFile(file, (database) =>
      (database.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as { name: string }[]).map(
        (row) => row.name,
      ),
    );
    expect(tables).toEqual(['backups']);
  });
});
