import Database from 'better-sqlite3';
import { preparePrivateDatabaseFile } from '../config/file-permissions';
import { Kysely, sql, SqliteDialect } from 'kysely';
import { ColumnLister, ReadModel, ReadModelDatabase } from '../../application/projections/read-model';
import { migrateReadModel } from './read-model-migrations';
import { sqliteImmediate } from './schema-migrations';

const sqliteColumns: ColumnLister = async (db, table) =>
  (await sql<{ name: string }>`SELECT name FROM pragma_table_info(${table})`.execute(db)).rows.map((row) => row.name);

/** The embedded read model: a SQLite file beside the event store, through Kysely. */
export async function openSqliteReadModel(file: string): Promise<ReadModel> {
  // The read models hold the audit trail and the idempotency records: 0600, with -wal and -shm.
  preparePrivateDatabaseFile(file);
  const database = new Database(file);
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('busy_timeout = 5000');
  const db = new Kysely<ReadModelDatabase>({ dialect: new SqliteDialect({ database }) });
  try {
    await sqliteImmediate(database, () => migrateReadModel(db, sqliteColumns));
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return db;
}
