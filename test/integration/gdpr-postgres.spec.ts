import * as os from 'node:os';
import { escapeIdentifier } from 'pg';
import { gdprScenario } from '../e2e/gdpr-scenario';
import { dropSchema, postgresConnection, uniqueSchema, withClient } from './support/postgres';

const schema = uniqueSchema('gdpr');

/**
 * The same GDPR scenario with the event store, the read models and the subject keys in
 * PostgreSQL (the in-process bus keeps it one process): erasure destroys the key in the shared
 * vault, and no planted personal string is in any table of the schema.
 */
gdprScenario({
  label: 'PostgreSQL event store, read models and key vault',
  env: async () => {
    const pg = postgresConnection();
    return {
      EVENT_STORE: 'postgres',
      KEY_VAULT: 'postgres',
      // A URL, not PG* variables: the service runs in this process, whose environment pg would read.
      DATABASE_URL: `postgres://${pg.user}${pg.password ? `:${encodeURIComponent(String(pg.password))}` : ''}@${pg.host}:${pg.port}/${pg.database}`,
      PG_SCHEMA: schema,
      // Required with EVENT_STORE=postgres; the scenario's sources are temporary folders.
      SOURCE_ROOTS: os.tmpdir(),
    };
  },
  keyVault: 'postgres',
  storedData: () =>
    withClient(async (client) => {
      const { rows: tables } = await client.query<{ table_name: string }>(
        'SELECT table_name FROM information_schema.tables WHERE table_schema = $1',
        [schema],
      );
      expect(tables.map((row) => row.table_name)).toEqual(expect.arrayContaining(['events', 'audit_entries', 'subject_keys']));
      const found: [string, string][] = [];
      for (const { table_name } of tables) {
        const { rows } = await client.query<{ row: string }>(
          `SELECT row_to_json(t)::text AS row FROM ${escapeIdentifier(schema)}.${escapeIdentifier(table_name)} t`,
        );
        found.push([`table ${table_name}`, rows.map((row) => row.row).join('\n')]);
      }
      return found;
    }),
  cleanup: () => dropSchema(schema),
});
