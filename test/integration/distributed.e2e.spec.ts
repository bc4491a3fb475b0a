import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { createServer } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { dropSchema, postgresConnection, uniqueSchema } from './support/postgres';
import { s3Env, uniqueBucketName } from './support/s3';

/**
 * The distributed mode end to end, as separate OS processes on real servers: one API process
 * (`custodia serve`) and two workers (`custodia worker`) over PostgreSQL, Kafka and S3.
 * 20 backups over 4 sources; one worker is killed with SIGKILL in the middle of a backup.
 * Every backup must end completed, exactly once, with the catalog matching the events, and a
 * consumer outside Custodia (kcat) must see every BackupCompleted on the integration topic.
 */
const CLI = path.resolve(__dirname, '../../dist/cli/main.js');
const SOURCES = 4;
const BACKUPS_PER_SOURCE = 5;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

interface Proc {
  child: ChildProcess;
  exited: Promise<void>;
  output: () => string;
}

function launch(args: string[], env: NodeJS.ProcessEnv): Proc {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { child, exited: new Promise((resolve) => child.on('exit', () => resolve())), output: () => output };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function deterministicBytes(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  let block = createHash('sha256').update(seed).digest();
  for (let offset = 0; offset < size; offset += 32) {
    block = createHash('sha256').update(block).digest();
    block.copy(out, offset);
  }
  return out;
}

describe('distributed mode: API + 2 workers over PostgreSQL, Kafka and S3', () => {
  const schema = uniqueSchema('e2e');
  const topicPrefix = `e2e-${randomUUID().slice(0, 8)}`;
  const bucket = uniqueBucketName('e2e');
  let work: string;
  let env: NodeJS.ProcessEnv;
  const processes: Proc[] = [];

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-distributed-'));
    const pg = postgresConnection();
    env = {
      ...process.env,
      ...s3Env,
      EVENT_STORE: 'postgres',
      PGHOST: String(pg.host),
      PGPORT: String(pg.port),
      PGDATABASE: String(pg.database),
      PGUSER: String(pg.user),
      PG_SCHEMA: schema,
      BUS: 'kafka',
      KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092',
      KAFKA_TOPIC_PREFIX: topicPrefix,
      KAFKA_PARTITIONS: '4',
      KAFKA_SESSION_TIMEOUT_MS: '10000',
      STORAGE: 's3',
      REPOSITORY: `s3://${bucket}/repository`,
      CUSTODIA_PASSPHRASE: 'distributed-e2e-passphrase',
      CUSTODIA_PSEUDONYM_SECRET: 'distributed-e2e-pseudonym-secret',
      CUSTODIA_KDF_N: '1024',
      DATA_DIR: path.join(work, 'data'),
      WORKER_CONCURRENCY: '1',
      WORKER_HEARTBEAT_INTERVAL_MS: '500',
      JOB_HEARTBEAT_TIMEOUT_MS: '8000',
      JOB_SUPERVISION_INTERVAL_MS: '1000',
      JOB_RETRY_BASE_DELAY_MS: '200',
      JOB_MAX_ATTEMPTS: '5',
    };
    // The repository (and its bucket) exists before the processes start, as in a real setup.
    execFileSync(process.execPath, [CLI, 'repo', 'init', '--repo', String(env.REPOSITORY), '--kdf-n', '1024'], { env });
  });

  afterAll(async () => {
    for (const proc of processes) {
      if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
      await proc.exited;
    }
    await dropSchema(schema);
    await fs.rm(work, { recursive: true, force: true });
  });

  it('ends all 20 backups completed exactly once despite a worker killed mid-backup', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const api = launch(['serve'], { ...env, PORT: String(port) });
    processes.push(api);
    const apiDeadline = Date.now() + 90_000;
    for (;;) {
      // A process that stopped at start (a bad setting) fails the test at once, with its message.
      if (api.child.exitCode !== null || Date.now() > apiDeadline) throw new Error(`the API did not start:\n${api.output()}`);
      if (
        await fetch(`${base}/sources`).then(
          (response) => response.ok,
          () => false,
        )
      )
        break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const workers = [launch(['worker'], env), launch(['worker'], env)];
    processes.push(...workers);

    const post = async (url: string, body: unknown) => {
      const response = await fetch(`${base}${url}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(response.status).toBeLessThan(300);
      return (await response.json()) as { id: string };
    };
    const backups: string[] = [];
    const sourceIds: string[] = [];
    for (let s = 0; s < SOURCES; s++) {
      const folder = path.join(work, `source-${s}`);
      await fs.mkdir(folder, { recursive: true });
      // A few MiB per source so that a backup takes long enough to be interrupted.
      for (let f = 0; f < 4; f++) await fs.writeFile(path.join(folder, `file-${f}.bin`), deterministicBytes(`${s}-${f}`, 3 * 1024 * 1024));
      sourceIds.push((await post('/sources', { name: `source-${s}`, path: folder })).id);
    }
    for (let round = 0; round < BACKUPS_PER_SOURCE; round++) {
      for (const sourceId of sourceIds) backups.push((await post('/backups', { sourceId, type: round === 0 ? 'full' : 'incremental' })).id);
    }

    // Kill a worker while backups are running (both workers busy, so the victim has one).
    const statusOf = async (id: string) => ((await (await fetch(`${base}/backups/${id}`)).json()) as { status: string }).status;
    await until(
      'two running backups',
      async () => ((await Promise.all(backups.map(statusOf))).filter((status) => status === 'running').length >= 2 ? true : undefined),
      120_000,
    );
    workers[0].child.kill('SIGKILL');
    await workers[0].exited;

    await until(
      'every backup to settle',
      async () =>
        (await Promise.all(backups.map(statusOf))).every((status) => ['completed', 'failed', 'cancelled'].includes(status))
          ? true
          : undefined,
      240_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\nAPI:\n${api.output().slice(-3000)}\nworker:\n${workers[1].output().slice(-3000)}`);
    });

    // Exactly one BackupCompleted per backup, and the catalog says the same as the events.
    const client = new Client(postgresConnection());
    await client.connect();
    try {
      const { rows } = await client.query<{ stream: string; type: string; data: { snapshotId?: string } }>(
        `SELECT stream, type, data FROM "${schema}".events WHERE stream LIKE 'backup-%' ORDER BY position`,
      );
      for (const id of backups) {
        const events = rows.filter((row) => row.stream === `backup-${id}`);
        const completed = events.filter((row) => row.type === 'BackupCompleted');
        expect(completed).toHaveLength(1);
        expect(events.some((row) => row.type === 'BackupFailed')).toBe(false);
        const catalog = (await (await fetch(`${base}/backups/${id}`)).json()) as { status: string; snapshotId: string };
        expect(catalog.status).toBe('completed');
        expect(catalog.snapshotId).toBe(completed[0].data.snapshotId);
      }
    } finally {
      await client.end();
    }

    // A consumer outside Custodia reads the public integration topic.
    const topic = `${topicPrefix}.integration-events`;
    const seen = await until(
      'kcat to see every custodia.backup.completed',
      async () => {
        const lines = execFileSync(
          'kcat',
          ['-C', '-b', String(env.KAFKA_BROKERS), '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%s\\n'],
          {
            encoding: 'utf8',
            timeout: 30_000,
          },
        )
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as { type: string; data: { backupId?: string } });
        const completed = new Set(lines.filter((event) => event.type === 'custodia.backup.completed').map((event) => event.data.backupId));
        return backups.every((id) => completed.has(id)) ? completed : undefined;
      },
      60_000,
    );
    expect(seen.size).toBe(backups.length);
  });
});
