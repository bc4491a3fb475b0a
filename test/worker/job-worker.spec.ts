import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Job, ReceivedJobStatus } from '../../src/application/ports/job-bus';
import { EngineError, Repository } from '../../src/engine';
import { FullDiskStore } from '../support/full-disk-store';
import { InProcessJobBus } from '../../src/infrastructure/bus/in-process-job-bus';
import { PathConfinement } from '../../src/infrastructure/persistence/path-confinement';
import { JobWorker } from '../../src/worker/job-worker';
import { FAST_KDF, initRepository } from '../support/repository';
import { useTempDirs } from '../support/temp-dirs';

const NOW = new Date('2030-06-01T12:00:00.000Z');

/** Every status the bus delivers, and a promise for a job's nth final status (failed or completed). */
function statusCollector() {
  const all: ReceivedJobStatus[] = [];
  const waiters: { jobId: string; nth: number; resolve: (status: ReceivedJobStatus) => void }[] = [];
  const finalsOf = (jobId: string) =>
    all.filter((status) => status.jobId === jobId && (status.status === 'failed' || status.status === 'completed'));
  const settle = () => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const found = finalsOf(waiters[i].jobId)[waiters[i].nth - 1];
      if (found) waiters.splice(i, 1)[0].resolve(found);
    }
  };
  return {
    handler: async (status: ReceivedJobStatus) => {
      all.push(status);
      settle();
    },
    final: (jobId: string, nth = 1) =>
      new Promise<ReceivedJobStatus>((resolve) => {
        waiters.push({ jobId, nth, resolve });
        settle();
      }),
    of: (jobId: string) => all.filter((status) => status.jobId === jobId).map((status) => status.status),
  };
}

/**
 * The worker on the in-process bus with a real repository in a temp dir: what it reports for a
 * backup job, a redelivered one, a cancelled one and the failures it maps to codes.
 */
describe('JobWorker', () => {
  const tempDir = useTempDirs();
  let work: string;
  let source: string;
  let repository: Repository;
  let bus: InProcessJobBus;
  let statuses: ReturnType<typeof statusCollector>;
  let paths: PathConfinement;

  beforeAll(async () => {
    work = await tempDir('job-worker');
    source = path.join(work, 'source');
    await fs.mkdir(path.join(work, 'data'));
    await fs.mkdir(path.join(work, 'restores'));
    await fs.mkdir(path.join(source, 'sub'), { recursive: true });
    await fs.writeFile(path.join(source, 'a.txt'), 'alpha\n');
    await fs.writeFile(path.join(source, 'sub', 'b.txt'), 'bravo bravo\n');
    repository = await initRepository(path.join(work, 'repo'));
    paths = new PathConfinement({
      dataDir: path.join(work, 'data'),
      repository: path.join(work, 'repo'),
      secretFiles: [],
      restoreRoots: [path.join(work, 'restores')],
      sourceRoots: [work],
    });
  });

  let worker: JobWorker;
  beforeEach(async () => {
    bus = new InProcessJobBus();
    statuses = statusCollector();
    await bus.consumeStatuses(statuses.handler);
    worker = new JobWorker(bus, { repository: async () => repository }, { now: () => NOW }, { heartbeatIntervalMs: 60_000, paths });
    await worker.start();
  });

  afterEach(async () => {
    await worker.stop();
    await bus.close();
  });

  const backupJob = (jobId = `backup-${randomUUID()}`, payloadPath = source): Job => ({
    jobId,
    kind: 'backup',
    key: 'source-1',
    attempt: 1,
    payload: { backupId: randomUUID(), sourceId: randomUUID(), path: payloadPath, full: true },
  });

  const snapshotsTagged = async (jobId: string) =>
    (await repository.listSnapshots(() => undefined)).filter((stored) => stored.snapshot.tags.includes(`job:${jobId}`));

  it('reports a backup job started, then completed with its snapshot and statistics', async () => {
    const job = backupJob();
    await bus.publishJob(job);
    const final = await statuses.final(job.jobId);

    expect(statuses.of(job.jobId)).toEqual(['started', 'completed']);
    const [stored] = await snapshotsTagged(job.jobId);
    expect(final).toEqual({
      jobId: job.jobId,
      kind: 'backup',
      attempt: 1,
      at: NOW.toISOString(),
      status: 'completed',
      result: {
        snapshotId: stored.id,
        merkleRoot: stored.snapshot.merkleRoot,
        statistics: expect.objectContaining({ files: 2, directories: 1, bytesRead: 18, totalBytes: 18, errors: 0, problems: {} }),
      },
    });
    expect(stored.snapshot.tags).toEqual(
      expect.arrayContaining([`job:${job.jobId}`, `backup:${(job.payload as { backupId: string }).backupId}`]),
    );
  });

  it('reports the same snapshot for a redelivered backup job instead of backing up again', async () => {
    const job = backupJob();
    await bus.publishJob(job);
    const first = await statuses.final(job.jobId);
    const before = (await repository.listSnapshots(() => undefined)).length;

    // The same job delivered again to a worker that did not run it (restarted, or another one,
    // its status was lost, say): that worker finds the tagged snapshot.
    await worker.stop();
    worker = new JobWorker(bus, { repository: async () => repository }, { now: () => NOW }, { heartbeatIntervalMs: 60_000, paths });
    await worker.start();
    await bus.publishJob(job);
    const second = await statuses.final(job.jobId, 2);

    expect(first).toMatchObject({ status: 'completed' });
    expect(second).toMatchObject({ status: 'completed' });
    expect(statuses.of(job.jobId)).toEqual(['started', 'completed', 'started', 'completed']);
    const firstResult = (first as { result: { snapshotId: string; statistics: unknown } }).result;
    expect(second).toMatchObject({ result: { snapshotId: firstResult.snapshotId, statistics: firstResult.statistics } });
    expect(await snapshotsTagged(job.jobId)).toHaveLength(1);
    expect((await repository.listSnapshots(() => undefined)).length).toBe(before);
  });

  it('answers a restore job delivered again with the first result, instead of failing on its own files', async () => {
    const backup = backupJob();
    await bus.publishJob(backup);
    const done = (await statuses.final(backup.jobId)) as { result: { snapshotId: string } };
    const restore: Job = {
      jobId: `restore-${randomUUID()}`,
      kind: 'restore',
      key: 'source-1',
      attempt: 1,
      payload: {
        restoreId: randomUUID(),
        backupId: randomUUID(),
        snapshotId: done.result.snapshotId,
        target: path.join(work, 'restores', `twice-${randomUUID()}`),
        include: [],
      },
    };
    await bus.publishJob(restore);
    const first = await statuses.final(restore.jobId);
    await bus.publishJob(restore);
    const second = await statuses.final(restore.jobId, 2);

    expect(first).toMatchObject({ status: 'completed', result: { files: 2 } });
    expect(second).toMatchObject({ status: 'completed', result: (first as { result: unknown }).result });
    expect(statuses.of(restore.jobId)).toEqual(['started', 'completed', 'completed']);
  });

  it('reports CANCELLED, without starting, for a job cancelled before it arrived', async () => {
    const job = backupJob();
    const before = (await repository.listSnapshots(() => undefined)).length;
    await bus.publishControl({ jobId: job.jobId, action: 'cancel', at: NOW.toISOString() });
    await bus.publishJob(job);

    expect(await statuses.final(job.jobId)).toMatchObject({
      status: 'failed',
      at: NOW.toISOString(),
      failure: { code: 'CANCELLED', reason: 'the job was cancelled before it started', retryable: false },
    });
    expect(statuses.of(job.jobId)).toEqual(['failed']);
    expect(await snapshotsTagged(job.jobId)).toHaveLength(0);
    expect((await repository.listSnapshots(() => undefined)).length).toBe(before);
  });

  it('does not let a cancel of one job touch another', async () => {
    const cancelled = backupJob();
    const other = backupJob();
    worker.cancel(cancelled.jobId);
    await bus.publishJob(other);
    expect(await statuses.final(other.jobId)).toMatchObject({ status: 'completed' });
  });

  it('reports an engine error with its code and public reason: a missing source folder, not retryable', async () => {
    const job = backupJob(undefined, path.join(work, 'no-such-folder'));
    await bus.publishJob(job);

    expect(await statuses.final(job.jobId)).toMatchObject({
      status: 'failed',
      failure: { code: 'SOURCE_NOT_FOUND', reason: 'the source folder does not exist', retryable: false },
    });
    expect(statuses.of(job.jobId)).toEqual(['started', 'failed']);
  });

  it('names only the requested snapshot when a restore job asks for one the repository lacks', async () => {
    const snapshotId = 'ab'.repeat(32);
    const jobId = `restore-${randomUUID()}`;
    await bus.publishJob({
      jobId,
      kind: 'restore',
      key: 'source-1',
      attempt: 1,
      payload: { restoreId: randomUUID(), backupId: randomUUID(), snapshotId, target: path.join(work, 'restores', 'r1'), include: [] },
    });

    expect(await statuses.final(jobId)).toMatchObject({
      status: 'failed',
      failure: {
        code: 'SNAPSHOT_NOT_FOUND',
        reason: expect.stringContaining(`snapshot ${snapshotId.slice(0, 12)} is not in`),
        retryable: false,
      },
    });
  });

  describe('with a repository that cannot be opened', () => {
    const failingWorker = (error: Error) =>
      new JobWorker(
        bus,
        {
          repository: async () => {
            throw error;
          },
        },
        { now: () => NOW },
        { heartbeatIntervalMs: 60_000, paths },
      );

    it('reports a transient engine error with its code and a reason that quotes nothing from the message', async () => {
      const job = backupJob();
      await failingWorker(new EngineError('IO_ERROR', 'EIO reading /home/jane/diary.txt')).handle(job);

      const final = await statuses.final(job.jobId);
      expect(final).toMatchObject({
        status: 'failed',
        failure: {
          code: 'IO_ERROR',
          reason: 'the worker met an I/O error on the source, the target or the repository storage',
          retryable: true,
        },
      });
      expect(JSON.stringify(final)).not.toContain('diary');
    });

    it('reports a full repository disk as STORAGE_FULL, retryable, and the retry completes once there is space', async () => {
      const store = new FullDiskStore(path.join(work, 'full-repo'));
      const full = await Repository.init(store, 'full-disk-passphrase', { kdfCost: FAST_KDF });
      const fullWorker = new JobWorker(bus, { repository: async () => full }, { now: () => NOW }, { heartbeatIntervalMs: 60_000, paths });
      const job = backupJob();
      store.refuses = () => true;
      await fullWorker.handle(job);
      expect(await statuses.final(job.jobId)).toMatchObject({
        status: 'failed',
        failure: { code: 'STORAGE_FULL', retryable: true },
      });

      store.refuses = () => false;
      await fullWorker.handle({ ...job, attempt: 2 });
      expect(await statuses.final(job.jobId, 2)).toMatchObject({ status: 'completed', attempt: 2 });
    });

    it('reports any other error as WORKER_ERROR, retryable, without its message', async () => {
      const job = backupJob();
      await failingWorker(new TypeError('cannot read properties of undefined (reading "jane")')).handle(job);

      const final = await statuses.final(job.jobId);
      expect(final).toMatchObject({
        status: 'failed',
        attempt: 1,
        failure: { code: 'WORKER_ERROR', reason: 'the worker failed unexpectedly; see the worker log', retryable: true },
      });
      expect(statuses.of(job.jobId)).toEqual(['started', 'failed']);
      expect(JSON.stringify(final)).not.toContain('jane');
    });
  });
});
