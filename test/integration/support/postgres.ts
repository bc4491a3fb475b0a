import { randomUUID } from 'node:crypto';
import { Client, escapeIdentifier, PoolConfig } from 'pg';

/**
 * Where the PostgreSQL integration tests connect: the PG* environment variables, defaulting to
 * the local test server (trust authentication, database `test`).
 */
export function postgresConnection(overrides: PoolConfig = {}): PoolConfig {
  return {
    host: process.env.PGHOST ?? '127.0.0.1',
    port: Number(process.env.PGPORT ?? 5432),
    database: process.env.PGDATABASE ?? 'test',
    user: process.env.PGUSER ?? 'postgres',
    ...(process.env.PGPASSWORD !== undefined && { password: process.env.PGPASSWORD }),
    ...overrides,
  };
}

/** A schema name unique to this run, so tests never see each other's tables. */
export function uniqueSchema(label: string): string {
  return `it_${label}_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
}

/** Runs `work` on a connection of its own, closed afterwards. */
export async function withClient<T>(work: (client: Client) => Promise<T>, overrides: PoolConfig = {}): Promise<T> {
  const client = new Client(postgresConnection(overrides));
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export async function dropSchema(schema: string): Promise<void> {
  await withClient((client) => client.query(`DROP SCHEMA IF EXISTS ${escapeIdentifier(schema)} CASCADE`));
}

/** Backends connected with `applicationName`, as the server sees them. */
export async function backendsOf(applicationName: string): Promise<{ pid: number; query: string }[]> {
  return withClient(async (client) => {
    const { rows } = await client.query<{ pid: number; query: string }>(
      `SELECT pid, query FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()`,
      [applicationName],
    );
    return rows;
  });
}

/** Polls `condition` until it holds, failing after `timeoutMs`. */
export async function eventually(condition: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
