import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { JobWorker } from '../../src/worker/job-worker';
import { JobBus } from '../../src/application/ports/job-bus';
import { JobTracker, TrackedJob } from '../../src/application/process-managers/job-tracker';
import { JobsProcessManager } from '../../src/application/process-managers/jobs.process-manager';
import { JOB_BUS } from '../../src/application/tokens';
import { eventually, startApp, TestApp, waitForStatus } from './embedded-app';

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

/** A clock the test moves on: how long a job waits or goes silent is then not the machine's speed. */
class MovableClock {
  private offsetMs = 0;
  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

describe('jobs nobody answers', () => {
  let service: TestApp | undefined;
  let source: string;
  let clock: MovableClock;
  const TIMEOUT_MS = 60_000;

  beforeEach(async () => {
    source = await makeSource();
    clock = new MovableClock();
  });

  afterEach(async () => {
    await service?.close();
    await fs.rm(source, { recursive: true, force: true });
    if (service) await fs.rm(service.dataDir, { recursive: true, force: true });
  });

  async function start(env: Record<string, string>): Promise<TestApp> {
    service = await startApp({ JOB_HEARTBEAT_TIMEOUT_MS: String(TIMEOUT_MS), ...env }, undefined, undefined, clock);
    await service.app.get(JobWorker).stop();
    return service;
  }

  async function requestBackup(app: TestApp, name: string): Promise<string> {
    const { body: registered } = await app.http().post('/sources').send({ name, path: source }).expect(201);
    const { body } = await app.http().post('/backups').send({ sourceId: registered.id }).expect(202);
    return body.id as string;
  }

  /** A worker that takes a job, says it started, and is never heard from again (as if killed). */
  async function silentWorker(app: TestApp): Promise<() => Promise<void>> {
    const bus = app.app.get<JobBus>(JOB_BUS);
    return bus.consumeJobs(async (job) => {
      await bus.publishStatus({
        jobId: job.jobId,
        kind: job.kind,
        attempt: job.attempt,
        at: clock.now().toISOString(),
        status: 'started',
        worker: 'silent-worker',
      });
    });
  }

  function trackedJob(app: TestApp, backupId: string): Promise<TrackedJob> {
    return eventually(async () => {
      const [tracked] = await app.app.get(JobTracker).openFor(backupId);
      if (!tracked) throw new Error(`no open job for backup ${backupId} yet`);
      return tracked;
    });
  }

  it('never times out a job that waits in the queue for a free worker, and runs it once when one is', async () => {
    const app = await start({ JOB_MAX_ATTEMPTS: '1' });
    const backupId = await requestBackup(app, 'queued');
    expect(await trackedJob(app, backupId)).toMatchObject({ status: 'dispatched', job: { attempt: 1 } });
    // Ten heartbeat timeouts later, one supervision pass of its own: still queued, same attempt.
    clock.advance(10 * TIMEOUT_MS);
    await app.app.get(JobsProcessManager).superviseOpenJobs();
    expect(await trackedJob(app, backupId)).toMatchObject({ status: 'dispatched', job: { attempt: 1 } });
    expect((await app.http().get(`/backups/${backupId}`).expect(200)).body.status).toBe('requested');

    await app.app.get(JobWorker).start();
    const done = await waitForStatus(app.http, `/backups/${backupId}`);
    expect(done).toMatchObject({ status: 'completed', attempt: 1 });
  });

  it('fails a backup with JOB_TIMEOUT when the worker that took it is not heard from within the heartbeat timeout', async () => {
    const app = await start({ JOB_MAX_ATTEMPTS: '1' });
    await silentWorker(app);
    const backupId = await requestBackup(app, 'silent');
    await eventually(async () => expect(await trackedJob(app, backupId)).toMatchObject({ status: 'running' }));
    clock.advance(TIMEOUT_MS + 1_000);
    const failed = await waitForStatus(app.http, `/backups/${backupId}`);
    expect(failed).toMatchObject({ status: 'failed', failure: { code: 'JOB_TIMEOUT' } });
  });

  it('retries a timed-out job and completes it once a worker is back, with one BackupCompleted', async () => {
    const app = await start({ JOB_MAX_ATTEMPTS: '3' });
    const stopSilent = await silentWorker(app);
    const backupId = await requestBackup(app, 'late');
    await eventually(async () => expect(await trackedJob(app, backupId)).toMatchObject({ status: 'running' }));
    await stopSilent();
    // The first attempt times out; the second is handed out and waits for a worker.
    clock.advance(TIMEOUT_MS + 1_000);
    await eventually(async () => expect(await trackedJob(app, backupId)).toMatchObject({ status: 'dispatched', job: { attempt: 2 } }));
    await app.app.get(JobWorker).start();
    const done = await waitForStatus(app.http, `/backups/${backupId}`);
    expect(done.status).toBe('completed');
    expect(done.startedAt).not.toBeNull();

    // The job was handed out again after the timeout, yet the backup completed once.
    const jobs = new Database(path.join(app.dataDir, 'readmodel.db'), { readonly: true });
    const job = jobs.prepare("SELECT attempt FROM jobs WHERE kind = 'backup' AND aggregate_id = ?").get(backupId) as { attempt: number };
    jobs.close();
    expect(job.attempt).toBeGreaterThan(1);
    const db = new Database(path.join(app.dataDir, 'events.db'), { readonly: true });
    const completed = db
      .prepare("SELECT COUNT(*) AS n FROM events WHERE stream = ? AND type = 'BackupCompleted'")
      .get(`backup-${backupId}`) as { n: number };
    db.close();
    expect(completed.n).toBe(1);

    // Each attempt is in the catalog: the silent worker's timed out, the real worker's finished the job.
    const attempts = await eventually(async () => {
      const { body: backup } = await app.http().get(`/backups/${backupId}`).expect(200);
      expect(backup.attempts).toHaveLength(2);
      return backup.attempts;
    });
    expect(attempts).toEqual([
      {
        attempt: 1,
        worker: 'silent-worker',
        dispatchedAt: null,
        startedAt: expect.any(String),
        endedAt: expect.any(String),
        outcome: 'timed-out',
        code: 'JOB_TIMEOUT',
      },
      {
        attempt: 2,
        worker: app.config.workerId,
        dispatchedAt: expect.any(String),
        startedAt: expect.any(String),
        endedAt: null,
        outcome: null,
        code: null,
      },
    ]);
  });
});
