import type Database from 'better-sqlite3';
import { sql } from 'kysely';
import { kyselyOverSqlite, migrateToLatest, MigrationSet, SchemaMigrationError, sqliteImmediate } from '../persistence/schema-migrations';

/**
 * What the releases before Migrator recorded in `PRAGMA user_version`: how many of their
 * hand-run migrations had run (one). 001_initial still sets it, so such a release opening a newer
 * file finds nothing to do; a higher value comes from a build newer than this one.
 */
export const SCHEMA_VERSION = 1;

/**
 * The embedded event store's schema migrations, run by Kysely's Migrator (tables
 * event_store_migration and event_store_migration_lock). Never edit a shipped migration: add one.
 *
 * 001_initial is the schema the releases before Migrator created, kept IF NOT EXISTS: a file made
 * by one of them (its tables there, no migration table) takes it as a no-op and is then recorded.
 */
export const SQLITE_EVENT_STORE_MIGRATIONS: MigrationSet = {
  store: 'event store',
  tableName: 'event_store_migration',
  lockTableName: 'event_store_migration_lock',
  migrations: {
    '001_initial': {
      up: async (db) => {
        // STRICT tables and CHECK (json_valid(...)) are beyond the schema builder: raw SQL.
        await sql`
          CREATE TABLE IF NOT EXISTS events (
            position INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            stream TEXT NOT NULL,
            revision INTEGER NOT NULL,
            type TEXT NOT NULL,
            schema_version INTEGER NOT NULL,
            occurred_at TEXT NOT NULL,
            data TEXT NOT NULL CHECK (json_valid(data)),
            metadata TEXT NOT NULL CHECK (json_valid(metadata)),
            UNIQUE (stream, revision)
          ) STRICT`.execute(db);
        await sql`
          CREATE TABLE IF NOT EXISTS checkpoints (
            name TEXT PRIMARY KEY,
            position INTEGER NOT NULL
          ) STRICT`.execute(db);
        await sql`PRAGMA user_version = ${sql.raw(String(SCHEMA_VERSION))}`.execute(db);
      },
    },
  },
};

/**
 * Brings the schema up to date, in one IMMEDIATE transaction so that two processes opening a new
 * file at the same time take turns instead of both creating tables.
 */
export async function migrate(database: Database.Database): Promise<void> {
  const version = database.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new SchemaMigrationError(
      'event store',
      null,
      new Error(`event store schema version ${version} is newer than this build understands (${SCHEMA_VERSION})`),
    );
  }
  const db = kyselyOverSqlite(database);
  try {
    await sqliteImmediate(database, () => migrateToLatest(db, SQLITE_EVENT_STORE_MIGRATIONS));
  } finally {
    await db.destroy();
  }
}
