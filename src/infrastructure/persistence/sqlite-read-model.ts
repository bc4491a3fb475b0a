import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { migrateReadModel, ReadModel, ReadModelDatabase } from '../../application/projections/read-model';

/** The embedded read model: a SQLite file beside the event store, through Kysely. */
export async function openSqliteReadModel(file: string): Promise<ReadModel> {
  const database = new Database(file);
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('busy_timeout = 5000');
  const db = new Kysely<ReadModelDatabase>({ dialect: new SqliteDialect({ database }) });
  await migrateReadModel(db);
  return db;
}
