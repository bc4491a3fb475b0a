import type Database from 'better-sqlite3';
import * as path from 'node:path';
import { Kysely, Migration, MigrationResult, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import type { Pool } from 'pg';

/**
 * One store's schema migrations, run by Kysely's Migrator. The migrations are defined in code
 * (never read from disk, so the build's layout does not matter), named so that they sort in the
 * order they run ("001_initial", "002_..."). Never edit a shipped migration: add a new one.
 */
export interface MigrationSet {
  /** The store, as errors name it: "read model", "event store", "key vault". */
  store: string;
  migrations: Record<string, Migration>;
  /** This store's own Migrator tables: several stores may share one PostgreSQL schema. */
  tableName: string;
  lockTableName: string;
  /** PostgreSQL: the schema holding the store and its Migrator tables (created if missing). */
  schema?: string;
}

/** A store's schema could not be brought up to date: the process must not go on with it. */
export class SchemaMigrationError extends Error {
  /** What startup failure reports print as the error's label. */
  readonly code = 'SCHEMA_MIGRATION_FAILED';

  constructor(
    readonly store: string,
    /** The migration that failed, or null when the Migrator failed before running one. */
    readonly migration: string | null,
    cause: unknown,
  ) {
    // DDL errors name tables and columns, never stored data: the message is kept whole.
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      migration === null
        ? `${store} schema: migrations could not run: ${reason}`
        : `${store} schema: migration ${migration} failed: ${reason}`,
      { cause },
    );
    this.name = 'SchemaMigrationError';
  }
}

/**
 * Applies the set's pending migrations; returns the ones applied now (none when the schema was
 * up to date). Throws SchemaMigrationError naming the store and the failed migration.
 *
 * On PostgreSQL the Migrator takes a session advisory lock around the run and each run is one
 * transaction, so processes starting together take turns and a failed run leaves nothing
 * behind. On SQLite its lock is a no-op: wrap the call in sqliteImmediate().
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Migrator itself takes Kysely<any>
export async function migrateToLatest(db: Kysely<any>, set: MigrationSet): Promise<string[]> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => set.migrations },
    migrationTableName: set.tableName,
    migrationLockTableName: set.lockTableName,
    ...(set.schema !== undefined && { migrationTableSchema: set.schema }),
  });
  let outcome: { error?: unknown; results?: MigrationResult[] };
  try {
    outcome = await migrator.migrateToLatest();
  } catch (error) {
    outcome = { error };
  }
  const results = outcome.results ?? [];
  if (outcome.error !== undefined) {
    throw new SchemaMigrationError(set.store, results.find((result) => result.status === 'Error')?.migrationName ?? null, outcome.error);
  }
  return results.filter((result) => result.status === 'Success').map((result) => result.migrationName);
}

/** Per database file, the end of the last migration run this process started on it. */
const sqliteRuns = new Map<string, Promise<unknown>>();

/**
 * Runs `work` (a migration over this same connection) inside one IMMEDIATE transaction: SQLite
 * then serialises processes opening the same file at once, and a failed run is rolled back whole.
 *
 * Runs on one file in this process take turns first: `work` awaits while holding the write lock,
 * and another connection of this thread asking for it would block the thread in its busy
 * handler, so the holder could never finish.
 */
export async function sqliteImmediate<T>(database: Database.Database, work: () => Promise<T>): Promise<T> {
  const key = database.memory ? null : path.resolve(database.name);
  const previous = key === null ? undefined : sqliteRuns.get(key);
  const run = (async () => {
    await previous?.catch(() => undefined);
    database.exec('BEGIN IMMEDIATE');
    try {
      const result = await work();
      database.exec('COMMIT');
      return result;
    } catch (error) {
      if (database.inTransaction) database.exec('ROLLBACK');
      throw error;
    }
  })();
  if (key === null) return run;
  sqliteRuns.set(key, run);
  try {
    return await run;
  } finally {
    if (sqliteRuns.get(key) === run) sqliteRuns.delete(key);
  }
}

/**
 * A Kysely over a store's own pg pool, just to migrate: destroying it leaves the pool open (the
 * store goes on using it).
 */
export function kyselyOverPool(pool: Pool): Kysely<unknown> {
  return new Kysely<unknown>({ dialect: new PostgresDialect({ pool: { connect: () => pool.connect(), end: async () => undefined } }) });
}

/** A Kysely over a store's own better-sqlite3 connection, just to migrate: destroying it leaves the connection open. */
export function kyselyOverSqlite(database: Database.Database): Kysely<unknown> {
  return new Kysely<unknown>({
    dialect: new SqliteDialect({ database: { close: () => undefined, prepare: (text) => database.prepare(text) } }),
  });
}
