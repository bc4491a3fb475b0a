import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { JobWorker } from '../../src/worker/job-worker';
import { startApp, TestApp, waitForStatus } from './embedded-app';

const CLI = path.resolve(__dirname, '../../dist/cli/main.js');

async function makeSource(): Promise<string> {
  const source = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-pj-source-'));
  await fs.writeFile(path.join(source, 'a.txt'), 'alpha\n');
  await fs.mkdir(path.join(source, 'sub'));
  await fs.writeFile(path.join(source, 'sub', 'b.txt'), 'beta\n');
  return source;
}

function readModelRows(dataDir: string): Record<string, unknown[]> {
  const db = new Database(path.join(dataDir, 'readmodel.db'), { readonly: true });
  try {
    return Object.fromEntries(
      ['sources', 'backups', 'restores'].map((table) => [table, db.prepare(`SELECT * FROM ${table} ORDER BY id`).all()]),
    );
  } finally {
    db.close();
  }
}

describe('projection rebuild', () => {
  it('replays the log into the same catalog and restore history as the live projections', async () => {
    const service = await startApp();
    const source = await makeSource();
    try {
      const { body: registered } = await service.http().post('/sources').send({ name: 'pj', path: source }).expect(201);
      await service.http().patch(`/sources/${registered.id}`).send({ name: 'renamed' }).expect(200);
      const backups = [];
      for (const type of ['full', 'incremental']) {
        const { body } = await service.http().post('/backups').send({ sourceId: registered.id, type }).expect(202);
        backups.push(await waitForStatus(service.http, `/backups/${body.id}`));
      }
      const { body: restore } = await service
        .http()
        .post('/restores')
        .send({ backupId: backups[0].id, target: path.join(service.config.restoreRoots[0], 'r') })
        .expect(202);
      await waitForStatus(service.http, `/restores/${restore.id}`);
      await service.http().post(`/backups/${backups[1].id}/verify`).expect(202);
      await waitForStatus(
        service.http,
        `/backups/${backups[1].id}`,
        (body) => (body as unknown as { verification: { status: string } }).verification.status === 'verified',
      );
    } finally {
      await service.close();
      await fs.rm(source, { recursive: true, force: true });
    }

    const live = readModelRows(service.dataDir);
    expect(live.backups).toHaveLength(2);
    expect(live.restores).toHaveLength(1);

    const rebuilt = spawnSync(process.execPath, [CLI, 'projections', 'rebuild'], {
      env: { ...process.env, DATA_DIR: service.dataDir },
      encoding: 'utf8',
    });
    expect(rebuilt.stderr).toBe('');
    expect(rebuilt.status).toBe(0);
    expect(rebuilt.stdout).toMatch(/projections rebuilt from \d+ event/);
    expect(readModelRows(service.dataDir)).toEqual(live);
    await fs.rm(service.dataDir, { recursive: true, force: true });
  });
});

describe('jobs nobody answers', () => {
  let service: TestApp | undefined;
  let source: string;

  beforeEach(async () => {
    source = await makeSource();
  });

  afterEach(async () => {
    await service?.close();
    await fs.rm(source, { recursive: true, force: true });
    if (service) await fs.rm(service.dataDir, { recursive: true, force: true });
  });

  it('fails a backup with JOB_TIMEOUT when no worker reports within the heartbeat timeout', async () => {
    service = await startApp({ JOB_HEARTBEAT_TIMEOUT_MS: '300', JOB_MAX_ATTEMPTS: '1' });
    await service.app.get(JobWorker).stop();
    const { body: registered } = await service.http().post('/sources').send({ name: 'silent', path: source }).expect(201);
    const { body } = await service.http().post('/backups').send({ sourceId: registered.id }).expect(202);
    const failed = await waitForStatus(service.http, `/backups/${body.id}`);
    expect(failed).toMatchObject({ status: 'failed', failure: { code: 'JOB_TIMEOUT' } });
  });

  it('retries a timed-out job and completes it once a worker is back, with one BackupCompleted', async () => {
    service = await startApp({ JOB_HEARTBEAT_TIMEOUT_MS: '300', JOB_MAX_ATTEMPTS: '3' });
    const worker = service.app.get(JobWorker);
    await worker.stop();
    const { body: registered } = await service.http().post('/sources').send({ name: 'late', path: source }).expect(201);
    const { body } = await service.http().post('/backups').send({ sourceId: registered.id }).expect(202);
    // Let the first attempt time out, then bring the worker back.
    await new Promise((resolve) => setTimeout(resolve, 800));
    await worker.start();
    const done = await waitForStatus(service.http, `/backups/${body.id}`);
    expect(done.status).toBe('completed');
    expect(done.startedAt).not.toBeNull();

    // The job was handed out again after the timeout, yet the backup completed once.
    const jobs = new Database(path.join(service.dataDir, 'readmodel.db'), { readonly: true });
    const job = jobs.prepare("SELECT attempt FROM jobs WHERE kind = 'backup' AND aggregate_id = ?").get(body.id) as { attempt: number };
    jobs.close();
    expect(job.attempt).toBeGreaterThan(1);
    const db = new Database(path.join(service.dataDir, 'events.db'), { readonly: true });
    const completed = db
      .prepare("SELECT COUNT(*) AS n FROM events WHERE stream = ? AND type = 'BackupCompleted'")
      .get(`backup-${body.id}`) as { n: number };
    db.close();
    expect(completed.n).toBe(1);
  });
});
