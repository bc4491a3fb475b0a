import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { escapeIdentifier } from 'pg';
import { seal } from '../../src/engine/crypto/aead';
import { MasterKey } from '../../src/engine/crypto/master-key';
import { AAD } from '../../src/engine/repository/format';
import { PostgresEventStore } from '../../src/infrastructure/event-store/postgres-event-store';
import { PostgresKeyVault } from '../../src/infrastructure/persistence/postgres-key-vault';
import { openPostgresReadModel } from '../../src/infrastructure/persistence/postgres-read-model';
import { newEvent } from '../contract/event-store/fixtures';
import { dropSchema, postgresConnection, uniqueSchema, withClient } from './support/postgres';

/** The exact DDL of the last release before Migrator, {{schema}} filled in (see the fixture files' headers). */
const fixture = (name: string, schema: string) =>
  readFileSync(path.join(__dirname, '../fixtures/schemas', name), 'utf8').replaceAll('{{schema}}', escapeIdentifier(schema));

const schemas: string[] = [];
function freshSchema(label: string): string {
  const schema = uniqueSchema(label);
  schemas.push(schema);
  return schema;
}
afterAll(async () => {
  for (const schema of schemas.splice(0)) await dropSchema(schema);
});

const migrationsIn = (schema: string, table: string) =>
  withClient(
    async (client) =>
      (
        await client.query<{ name: string; timestamp: string }>(
          `SELECT name, timestamp FROM ${escapeIdentifier(schema)}.${table} ORDER BY name`,
        )
      ).rows,
  );

/**
 * The distributed stores as the last release before Migrator left them (its tables, no migration
 * table) open with this build: their rows are kept, the Migrator records its migrations in the
 * store's schema, and opening again runs none.
 */
describe('PostgreSQL schemas: upgrading from the release before Migrator', () => {
  it('read model: keeps the rows, records 001 and 002, and a second open changes nothing', async () => {
    const schema = freshSchema('rm_upgrade');
    await withClient((client) => client.query(`CREATE SCHEMA ${escapeIdentifier(schema)}`));
    // The release ran its DDL unqualified, with the schema as the connections' search_path.
    await withClient(
      async (client) => {
        await client.query(fixture('read-model.sql', schema));
        await client.query(`INSERT INTO sources (id, name, path, subject_rules, data_categories, purposes, status, registered_at, updated_at)
                            VALUES ('s1', 'letters', '/data', '[]', '["contact"]', '["archive"]', 'active', '2030-01-01', '2030-01-01')`);
        await client.query(`INSERT INTO jobs (job_id, kind, aggregate_id, job_key, payload, attempt, status, updated_at, progress)
                            VALUES ('j1', 'backup', 'b1', 'backup-b1', '{}', 2, 'dispatched', '2030-01-01', '{"files":3}')`);
        await client.query(`INSERT INTO projection_checkpoints (name, position) VALUES ('sources', 7)`);
      },
      { options: `-c search_path=${escapeIdentifier(schema)}` },
    );

    const rows = async () => {
      const db = await openPostgresReadModel({ connection: postgresConnection(), schema });
      try {
        return {
          sources: await db.selectFrom('sources').select(['id', 'data_categories', 'purposes']).execute(),
          jobs: await db.selectFrom('jobs').select(['job_id', 'attempt', 'progress']).execute(),
          checkpoints: await db.selectFrom('projection_checkpoints').selectAll().execute(),
        };
      } finally {
        await db.destroy();
      }
    };
    const first = await rows();
    expect(first).toEqual({
      sources: [{ id: 's1', data_categories: '["contact"]', purposes: '["archive"]' }],
      jobs: [{ job_id: 'j1', attempt: 2, progress: '{"files":3}' }],
      checkpoints: [{ name: 'sources', position: 7 }],
    });
    const applied = await migrationsIn(schema, 'read_model_migration');
    expect(applied.map((row) => row.name)).toEqual(['001_initial', '002_later_columns', '003_job_attempts']);

    expect(await rows()).toEqual(first);
    expect(await migrationsIn(schema, 'read_model_migration')).toEqual(applied);
  });

  it('event store: keeps the events, checkpoints and log head, records 001, and a second open changes nothing', async () => {
    const schema = freshSchema('es_upgrade');
    const s = escapeIdentifier(schema);
    const id = randomUUID();
    await withClient(async (client) => {
      await client.query(fixture('postgres-event-store.sql', schema));
      await client.query(
        `INSERT INTO ${s}.events (position, id, stream, revision, type, schema_version, occurred_at, data, metadata)
         VALUES (1, $1, 'source-1', 0, 'SourceRegistered', 1, '2030-01-01T00:00:00.000Z', '{"name":"letters"}', '{"correlationId":"c"}')`,
        [id],
      );
      await client.query(`UPDATE ${s}.event_log_head SET position = 1`);
      await client.query(`INSERT INTO ${s}.checkpoints (name, position) VALUES ('projection:sources', 1)`);
    });

    const store = await PostgresEventStore.open({ connection: postgresConnection(), schema });
    try {
      const [event] = await store.readStream('source-1');
      expect(event).toMatchObject({ id, position: 1, revision: 0, type: 'SourceRegistered', data: { name: 'letters' } });
      expect(await store.load('projection:sources')).toBe(1);
      // The log head was kept: the next append takes position 2.
      const appended = await store.append('source-1', [newEvent()], 0);
      expect(appended.position).toBe(2);
    } finally {
      await store.close();
    }
    const applied = await migrationsIn(schema, 'event_store_migration');
    expect(applied.map((row) => row.name)).toEqual(['001_initial']);

    await (await PostgresEventStore.open({ connection: postgresConnection(), schema })).close();
    expect(await migrationsIn(schema, 'event_store_migration')).toEqual(applied);
    const head = await withClient((client) => client.query(`SELECT position FROM ${s}.event_log_head`));
    expect(head.rows).toEqual([{ position: '2' }]);
  });

  it('key vault: keeps active and shredded keys, records 001, and a second open changes nothing', async () => {
    const schema = freshSchema('kv_upgrade');
    const s = escapeIdentifier(schema);
    const master = MasterKey.generate();
    const [active, shredded] = [randomBytes(32).toString('hex'), randomBytes(32).toString('hex')];
    const keyId = randomBytes(16).toString('hex');
    const key = randomBytes(32);
    await withClient(async (client) => {
      await client.query(fixture('postgres-key-vault.sql', schema));
      await client.query(`INSERT INTO ${s}.subject_keys (pseudonym, key_id, wrapped) VALUES ($1, $2, $3)`, [
        active,
        keyId,
        seal(master.subjectKeyWrapKey, key, AAD.subjectKey(active, keyId)),
      ]);
      await client.query(`INSERT INTO ${s}.subject_keys (pseudonym, key_id, wrapped, shredded_at) VALUES ($1, $2, NULL, now())`, [
        shredded,
        randomBytes(16).toString('hex'),
      ]);
    });

    const vault = await PostgresKeyVault.open(master, { connection: postgresConnection(), schema });
    try {
      expect(await vault.get(active)).toEqual({ pseudonym: active, keyId, key });
      expect(await vault.status(shredded)).toBe('shredded');
    } finally {
      await vault.close();
    }
    const applied = await migrationsIn(schema, 'key_vault_migration');
    expect(applied.map((row) => row.name)).toEqual(['001_initial']);

    await (await PostgresKeyVault.open(master, { connection: postgresConnection(), schema })).close();
    expect(await migrationsIn(schema, 'key_vault_migration')).toEqual(applied);
  });

  it('stores started together on a new named schema take turns: each migration runs once', async () => {
    const schema = freshSchema('concurrent');
    const master = MasterKey.generate();
    const connection = () => postgresConnection();
    const opened = await Promise.all([
      PostgresEventStore.open({ connection: connection(), schema }),
      PostgresEventStore.open({ connection: connection(), schema }),
      openPostgresReadModel({ connection: connection(), schema }),
      openPostgresReadModel({ connection: connection(), schema }),
      PostgresKeyVault.open(master, { connection: connection(), schema }),
      PostgresKeyVault.open(master, { connection: connection(), schema }),
    ]);
    const [eventsA, eventsB, readA, readB, vaultA, vaultB] = opened;
    await Promise.all([eventsA.close(), eventsB.close(), readA.destroy(), readB.destroy(), vaultA.close(), vaultB.close()]);

    expect((await migrationsIn(schema, 'event_store_migration')).map((row) => row.name)).toEqual(['001_initial']);
    expect((await migrationsIn(schema, 'read_model_migration')).map((row) => row.name)).toEqual([
      '001_initial',
      '002_later_columns',
      '003_job_attempts',
    ]);
    expect((await migrationsIn(schema, 'key_vault_migration')).map((row) => row.name)).toEqual(['001_initial']);
    const head = await withClient((client) => client.query(`SELECT position FROM ${escapeIdentifier(schema)}.event_log_head`));
    expect(head.rows).toEqual([{ position: '0' }]);
  });
});
