import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import * as path from 'node:path';
import { postgresConnection } from './postgres';
import { s3Env } from './s3';

/** The built CLI the integration scenarios run as separate OS processes. */
export const CLI = path.resolve(__dirname, '../../../dist/cli/main.js');

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface Proc {
  child: ChildProcess;
  exited: Promise<void>;
  output: () => string;
}

/** `custodia <args>` as a child process, its stdout and stderr kept for failure messages. */
export function launch(args: string[], env: NodeJS.ProcessEnv): Proc {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { child, exited: new Promise((resolve) => child.on('exit', () => resolve())), output: () => output };
}

/** Polls `probe` until it returns a value; the budget is generous, the test never relies on it being short. */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Starts `custodia serve` on a free port and resolves once its API answers; fails at once if it exits. */
export async function launchApi(env: NodeJS.ProcessEnv): Promise<{ api: Proc; base: string }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const api = launch(['serve'], { ...env, PORT: String(port) });
  const deadline = Date.now() + 90_000;
  for (;;) {
    // A process that stopped at start (a bad setting) fails the test at once, with its message.
    if (api.child.exitCode !== null || Date.now() > deadline) throw new Error(`the API did not start:\n${api.output()}`);
    if (
      await fetch(`${base}/sources`).then(
        (response) => response.ok,
        () => false,
      )
    )
      return { api, base };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export function deterministicBytes(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  let block = createHash('sha256').update(seed).digest();
  for (let offset = 0; offset < size; offset += 32) {
    block = createHash('sha256').update(block).digest();
    block.copy(out, offset);
  }
  return out;
}

/** Every message on a Kafka topic from the beginning, read by kcat (a consumer outside Custodia), one string each. */
export function kafkaMessages(brokers: string, topic: string, format = '%s'): string[] {
  return execFileSync('kcat', ['-C', '-b', brokers, '-t', topic, '-o', 'beginning', '-e', '-q', '-f', `${format}\\n`], {
    encoding: 'utf8',
    timeout: 30_000,
  })
    .split('\n')
    .filter(Boolean);
}

/**
 * The environment of every process of a distributed scenario: PostgreSQL (its own schema), Kafka
 * (its own topic prefix), S3 (its own bucket), sources under `work`, fast heartbeats and a job
 * heartbeat timeout longer than the Kafka session (the service refuses less). `overrides` last.
 */
export function distributedEnv(
  names: { schema: string; topicPrefix: string; bucket: string; work: string },
  overrides: NodeJS.ProcessEnv = {},
): NodeJS.ProcessEnv {
  const pg = postgresConnection();
  return {
    ...process.env,
    ...s3Env,
    EVENT_STORE: 'postgres',
    PGHOST: String(pg.host),
    PGPORT: String(pg.port),
    PGDATABASE: String(pg.database),
    PGUSER: String(pg.user),
    PG_SCHEMA: names.schema,
    BUS: 'kafka',
    KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092',
    KAFKA_TOPIC_PREFIX: names.topicPrefix,
    KAFKA_PARTITIONS: '4',
    KAFKA_SESSION_TIMEOUT_MS: '10000',
    STORAGE: 's3',
    REPOSITORY: `s3://${names.bucket}/repository`,
    CUSTODIA_PASSPHRASE: 'distributed-e2e-passphrase',
    CUSTODIA_PSEUDONYM_SECRET: 'distributed-e2e-pseudonym-secret',
    CUSTODIA_KDF_N: '1024',
    DATA_DIR: path.join(names.work, 'data'),
    // Required in the distributed setup: the scenario's sources are folders in `work`.
    SOURCE_ROOTS: names.work,
    WORKER_CONCURRENCY: '1',
    WORKER_HEARTBEAT_INTERVAL_MS: '500',
    // Longer than the Kafka session: a dead worker's jobs move to another worker first.
    JOB_HEARTBEAT_TIMEOUT_MS: '15000',
    JOB_SUPERVISION_INTERVAL_MS: '1000',
    JOB_RETRY_BASE_DELAY_MS: '200',
    ...overrides,
  };
}

/** Creates the scenario's repository (and its bucket) before any process starts, as in a real setup. */
export function initRepositoryFor(env: NodeJS.ProcessEnv): void {
  execFileSync(process.execPath, [CLI, 'repo', 'init', '--repo', String(env.REPOSITORY), '--kdf-n', '1024'], { env });
}
