import { ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { createServer } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';

/**
 * The service killed with SIGKILL at the worst moments, then started again: every accepted
 * backup must end completed, with exactly one BackupCompleted event.
 */
const MAIN = path.resolve(__dirname, '../../dist/main.js');

interface Service {
  child: ChildProcess;
  base: string;
  exited: Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function startService(dataDir: string, port: number): Promise<Service> {
  const child = spawn(process.execPath, [MAIN], {
    env: {
      ...process.env,
      DATA_DIR: dataDir,
      PORT: String(port),
      CUSTODIA_PASSPHRASE: 'crash-passphrase',
      CUSTODIA_KDF_N: '1024',
      WORKER_HEARTBEAT_INTERVAL_MS: '200',
      JOB_HEARTBEAT_TIMEOUT_MS: '5000',
      JOB_SUPERVISION_INTERVAL_MS: '500',
      JOB_RETRY_BASE_DELAY_MS: '100',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`service exited: ${stderr}`);
    try {
      if ((await fetch(`${base}/sources`)).ok) return { child, base, exited };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`service did not start: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function kill(service: Service): Promise<void> {
  service.child.kill('SIGKILL');
  await service.exited;
}

async function post(base: string, url: string, body: unknown): Promise<{ status: number; body: Record<string, string> }> {
  const response = await fetch(`${base}${url}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, string> };
}

async function statusOf(base: string, backupId: string): Promise<string> {
  const response = await fetch(`${base}/backups/${backupId}`);
  return ((await response.json()) as { status: string }).status;
}

async function waitUntil(base: string, backupId: string, wanted: string[], timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await statusOf(base, backupId);
    if (wanted.includes(status)) return status;
    if (Date.now() > deadline) throw new Error(`backup ${backupId} stayed ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('the embedded service survives kill -9', () => {
  let work: string;
  let dataDir: string;
  let source: string;
  let port: number;

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-service-crash-'));
    dataDir = path.join(work, 'data');
    source = path.join(work, 'source');
    await fs.mkdir(source, { recursive: true });
    // Enough data that a backup takes a moment: the kill must land while it runs.
    let block = createHash('sha256').update('seed').digest();
    for (let i = 0; i < 12; i++) {
      const content = Buffer.alloc(4 * 1024 * 1024);
      for (let offset = 0; offset < content.length; offset += 32) {
        block = createHash('sha256').update(block).digest();
        block.copy(content, offset);
      }
      await fs.writeFile(path.join(source, `file-${i}.bin`), content);
    }
    port = await freePort();
  });

  afterAll(async () => {
    await fs.rm(work, { recursive: true, force: true });
  });

  it('ends every accepted backup completed, exactly once', async () => {
    let service = await startService(dataDir, port);
    const { body: registered } = await post(service.base, '/sources', { name: 'crash', path: source });

    // 1. Killed right after BackupRequested is stored, before any worker could finish.
    const first = await post(service.base, '/backups', { sourceId: registered.id, type: 'full' });
    expect(first.status).toBe(202);
    await kill(service);

    service = await startService(dataDir, port);
    expect(await waitUntil(service.base, first.body.id, ['completed', 'failed'])).toBe('completed');

    // 2. Killed while the worker is in the middle of the backup.
    const second = await post(service.base, '/backups', { sourceId: registered.id, type: 'full' });
    await waitUntil(service.base, second.body.id, ['running', 'completed']);
    await kill(service);

    service = await startService(dataDir, port);
    expect(await waitUntil(service.base, second.body.id, ['completed', 'failed'])).toBe('completed');
    service.child.kill('SIGTERM');
    await service.exited;

    const db = new Database(path.join(dataDir, 'events.db'), { readonly: true });
    try {
      for (const backupId of [first.body.id, second.body.id]) {
        const rows = db.prepare('SELECT type FROM events WHERE stream = ? ORDER BY revision').all(`backup-${backupId}`) as {
          type: string;
        }[];
        const types = rows.map((row) => row.type);
        expect(types.filter((type) => type === 'BackupCompleted')).toHaveLength(1);
        expect(types).not.toContain('BackupFailed');
        expect(types[0]).toBe('BackupRequested');
        expect(types.at(-1)).toBe('BackupCompleted');
      }
    } finally {
      db.close();
    }
  });
});
