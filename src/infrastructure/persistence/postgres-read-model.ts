import { Kysely, PostgresDialect, sql } from 'kysely';
import { escapeIdentifier, Pool, PoolConfig, types } from 'pg';
import { ColumnLister, ReadModel, ReadModelDatabase } from '../../application/projections/read-model';
import { migrateReadModel } from './read-model-migrations';
import { describeForLog } from '../../application/describe-for-log';

export interface PostgresReadModelOptions {
  /** pg connection settings; whatever is left out comes from the PG* environment variables, as with psql. */
  connection?: PoolConfig;
  /** The schema holding the read-model tables, created if missing; it becomes the connections' search_path. */
  schema?: string;
  /** Receives failures of idle pooled connections (a server restart), which would otherwise end the process. */
  onConnectionError?: (error: unknown) => void;
}

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * pg returns bigint (and count(*)) as strings, since they may exceed 2^53. The read model declares
 * its bigint columns (positions, byte and file counts) as numbers, and none of them comes near
 * 2^53, so they are parsed as numbers; a value that could not be represented exactly stays a
 * string rather than being silently rounded.
 */
function parseInt8(value: string): number | string {
  const parsed = Number(value);
  return Number.isSafeInteger(parsed) ? parsed : value;
}

/** The read model's schema is the connection's search_path, so current_schema() names it. */
const postgresColumns: ColumnLister = async (db, table) =>
  (
    await sql<{ column_name: string }>`
      SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ${table}`.execute(db)
  ).rows.map((row) => row.column_name);

const readModelTypes = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === types.builtins.INT8 && format !== 'binary' ? parseInt8 : types.getTypeParser(oid, format)) as typeof types.getTypeParser,
};

/**
 * The distributed read model: the same tables and queries as the embedded one, in a PostgreSQL
 * schema through Kysely. Creates the schema and tables if missing, or migrates them, with Kysely's
 * Migrator, whose lock makes several processes starting together take turns.
 */
export async function openPostgresReadModel(options: PostgresReadModelOptions = {}): Promise<ReadModel> {
  const schema = options.schema ?? 'public';
  if (!SCHEMA_NAME.test(schema)) throw new RangeError(`read model schema name must be a plain identifier, got ${JSON.stringify(schema)}`);
  const connection = options.connection ?? {};
  const searchPath = `-c search_path=${escapeIdentifier(schema)}`;
  const pool = new Pool({
    ...connection,
    options: connection.options ? `${connection.options} ${searchPath}` : searchPath,
    types: readModelTypes,
  });
  const onConnectionError =
    options.onConnectionError ?? ((error: unknown) => console.error(`read model: PostgreSQL connection failed (${describeForLog(error)})`));
  pool.on('error', onConnectionError);
  const db = new Kysely<ReadModelDatabase>({ dialect: new PostgresDialect({ pool }) });
  try {
    // The Migrator creates the schema if missing (looking first, so that a role without CREATE
    // on the database can use an existing one), and its lock makes processes take turns.
    await migrateReadModel(db, postgresColumns, schema);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return db;
}
