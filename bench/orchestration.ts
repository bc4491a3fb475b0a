/**
 * Orchestration benchmark on the embedded defaults: `npm run bench:orchestration`.
 *
 * Starts the real service (dist/main.js) in a child process on a fresh DATA_DIR with a tiny
 * source, then measures
 *  1. commands accepted per second: concurrent POST /backups, each answered 202 only after
 *     BackupRequested is durably stored (SQLite, synchronous=FULL);
 *  2. latency from request to BackupCompleted, one backup at a time (no queueing), from the
 *     catalog's requestedAt/finishedAt (the events' own times);
 *  3. the same latency for the burst of step 1 (queueing included).
 * Options: --commands N (default 300), --concurrency C (default 16), --sequential N (default 50).
 *
 * `--distributed` runs the same on PostgreSQL + Kafka + S3 (bash scripts/services.sh up first;
 * PostgreSQL on 127.0.0.1:5432) with the API and two worker processes, and adds the raw append
 * throughput of the PostgreSQL event store (--appends N, concurrency --concurrency).
 */
import { ChildProcess, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { createServer } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { PostgresEventStore } from '../src/infrastructure/event-store/postgres-event-store';

const root = path.resolve(__dirname, '../..');

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

const distributed = process.argv.includes('--distributed');
const runId = `${Date.now().toString(36)}`;

/** The environment of every process: embedded defaults, or the distributed servers. */
function serviceEnv(dataDir: string): NodeJS.ProcessEnv {
  const base = {
    ...process.env,
    DATA_DIR: dataDir,
    CUSTODIA_PASSPHRASE: 'bench-passphrase',
    // The bench posts thousands of commands a second from one caller: no rate limit.
    RATE_LIMIT_COMMANDS_PER_MINUTE: '0',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  if (!distributed) return base;
  return {
    ...base,
    CUSTODIA_PSEUDONYM_SECRET: 'bench-pseudonym-secret-32-bytes!',
    EVENT_STORE: 'postgres',
    PGHOST: process.env.PGHOST ?? '127.0.0.1',
    PGUSER: process.env.PGUSER ?? 'postgres',
    PGDATABASE: process.env.PGDATABASE ?? 'test',
    PG_SCHEMA: `bench_${runId}`,
    BUS: 'kafka',
    KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092',
    KAFKA_TOPIC_PREFIX: `bench-${runId}`,
    STORAGE: 's3',
    REPOSITORY: `s3://bench-${runId}/repository`,
    S3_ENDPOINT: process.env.S3_ENDPOINT ?? 'http://127.0.0.1:9000',
    S3_ACCESS_KEY_ID: process.env.S3_ACCESS_KEY_ID ?? 'custodia',
    S3_SECRET_ACCESS_KEY: process.env.S3_SECRET_ACCESS_KEY ?? 'custodia-secret',
    S3_REGION: 'us-east-1',
    S3_FORCE_PATH_STYLE: 'true',
  };
}

function cli(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, [path.join(root, 'dist/cli/main.js'), ...args], { env, stdio: ['ignore', 'ignore', 'inherit'] });
}

async function startService(dataDir: string, port: number): Promise<ChildProcess[]> {
  const env: NodeJS.ProcessEnv = { ...serviceEnv(dataDir), PORT: String(port) };
  if (distributed) {
    const init = cli(['repo', 'init', '--repo', String(env.REPOSITORY)], env);
    await new Promise((resolve) => init.on('exit', resolve));
  }
  const child = cli(['serve'], env);
  const workers = distributed ? [cli(['worker'], env), cli(['worker'], env)] : [];
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/sources`)).ok) return [child, ...workers];
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  for (const proc of [child, ...workers]) proc.kill();
  throw new Error('service did not start');
}

async function post(base: string, url: string, body: unknown): Promise<{ id: string }> {
  const response = await fetch(`${base}${url}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (response.status >= 300) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  return (await response.json()) as { id: string };
}

interface CatalogRow {
  id: string;
  status: string;
  requestedAt: string;
  finishedAt: string | null;
}

async function waitForAll(base: string, ids: string[]): Promise<CatalogRow[]> {
  const rows: CatalogRow[] = [];
  for (const id of ids) {
    for (;;) {
      const row = (await (await fetch(`${base}/backups/${id}`)).json()) as CatalogRow;
      if (['completed', 'failed', 'cancelled'].includes(row.status) && row.finishedAt) {
        rows.push(row);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  return rows;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function latencies(rows: CatalogRow[]): { p50: number; p99: number; failed: number } {
  const values = rows.map((row) => Date.parse(row.finishedAt ?? '') - Date.parse(row.requestedAt)).sort((a, b) => a - b);
  return { p50: percentile(values, 50), p99: percentile(values, 99), failed: rows.filter((row) => row.status !== 'completed').length };
}

async function main(): Promise<void> {
  const commands = option('commands', 300);
  const concurrency = option('concurrency', 16);
  const sequential = option('sequential', 50);
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-bench-orch-'));
  const source = path.join(work, 'source');
  await fs.mkdir(source);
  await fs.writeFile(path.join(source, 'tiny.txt'), 'a tiny source\n');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const service = await startService(path.join(work, 'data'), port);
  const appendRate = distributed ? await postgresAppendRate(option('appends', 2000), option('concurrency', 16)) : null;
  try {
    const { id: sourceId } = await post(base, '/sources', { name: 'bench', path: source });

    const sequentialIds: string[] = [];
    for (let i = 0; i < sequential; i++) {
      const { id } = await post(base, '/backups', { sourceId, type: 'incremental' });
      await waitForAll(base, [id]);
      sequentialIds.push(id);
    }
    const idle = latencies(await waitForAll(base, sequentialIds));

    const burstIds: string[] = [];
    const started = process.hrtime.bigint();
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < commands) {
          next++;
          burstIds.push((await post(base, '/backups', { sourceId, type: 'incremental' })).id);
        }
      }),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const burst = latencies(await waitForAll(base, burstIds));

    const setup = distributed
      ? 'distributed (PostgreSQL event store and read models, Kafka bus, S3Proxy repository; API + 2 worker processes)'
      : 'embedded defaults (SQLite, in-process bus and worker)';
    const lines = [
      `Orchestration on ${setup}, ${os.cpus().length} cores, Node ${process.version}`,
      '',
      '| measure | value |',
      '|---|---|',
      `| commands accepted (202, event durable), ${concurrency} concurrent clients | ${(burstIds.length / seconds).toFixed(0)} /s (${burstIds.length} in ${seconds.toFixed(2)} s) |`,
      `| POST /backups -> BackupCompleted, one at a time, p50 / p99 | ${idle.p50} ms / ${idle.p99} ms (${sequential} backups, ${idle.failed} failed) |`,
      `| POST /backups -> BackupCompleted during the burst, p50 / p99 | ${burst.p50} ms / ${burst.p99} ms (queueing included, ${burst.failed} failed) |`,
      ...(appendRate
        ? [
            `| PostgreSQL event store appends (1 event each, ${appendRate.concurrency} concurrent) | ${appendRate.perSecond.toFixed(0)} /s (${appendRate.count} in ${appendRate.seconds.toFixed(2)} s) |`,
          ]
        : []),
    ];
    console.log(lines.join('\n'));
    await fs.mkdir(path.join(root, 'bench/results'), { recursive: true });
    const name = `orchestration${distributed ? '-distributed' : ''}-${new Date().toISOString().slice(0, 10)}.md`;
    await fs.writeFile(path.join(root, 'bench/results', name), `${lines.join('\n')}\n`);
  } finally {
    for (const proc of service) {
      proc.kill('SIGTERM');
      await new Promise((resolve) => proc.on('exit', resolve));
    }
    await fs.rm(work, { recursive: true, force: true });
  }
}

/** Raw append throughput of the PostgreSQL adapter: one event per append, new stream each. */
async function postgresAppendRate(
  count: number,
  concurrency: number,
): Promise<{ count: number; concurrency: number; seconds: number; perSecond: number }> {
  const schema = `bench_append_${runId}`;
  const store = await PostgresEventStore.open({
    schema,
    connection: {
      host: process.env.PGHOST ?? '127.0.0.1',
      user: process.env.PGUSER ?? 'postgres',
      database: process.env.PGDATABASE ?? 'test',
    },
  });
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        await store.append(
          `bench-${i}`,
          [
            {
              id: randomUUID(),
              type: 'BenchAppended',
              schemaVersion: 1,
              occurredAt: new Date().toISOString(),
              data: { i },
              metadata: { correlationId: 'bench', causationId: null, actor: 'bench' },
            },
          ],
          'no-stream',
        );
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await store.close();
  return { count, concurrency, seconds, perSecond: count / seconds };
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
