import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ReceivedJobStatus } from '../../src/application/ports/job-bus';
import { backup, Repository } from '../../src/engine';
import { InProcessJobBus } from '../../src/infrastructure/bus/in-process-job-bus';
import { PathConfinement } from '../../src/infrastructure/persistence/path-confinement';
import { JobWorker } from '../../src/worker/job-worker';
import { initRepository } from '../support/repository';
import { useTempDirs } from '../support/temp-dirs';

/** Files under `root`, relative, to show that a refused job wrote nothing. */
async function filesUnder(root: string): Promise<string[]> {
  const entries = await fs.readdir(root, { recursive: true, withFileTypes: true });
  return entries.map((entry) => path.relative(root, path.join(entry.parentPath, entry.name))).sort();
}

/**
 * A worker checks a job's paths again as the job starts: the folder registered as a source may
 * have become a symlink into the service's data since, and a restore target's path may now lead
 * out of the restore roots.
 */
describe('the worker re-checks paths when a job starts', () => {
  const tempDir = useTempDirs();
  let work: string;
  let repository: Repository;
  let worker: JobWorker;
  let bus: InProcessJobBus;
  let statuses: ReceivedJobStatus[];
  let snapshotId: string;

  beforeAll(async () => {
    work = await tempDir('job-confinement');
    await fs.mkdir(path.join(work, 'data'));
    await fs.mkdir(path.join(work, 'restores'));
    await fs.mkdir(path.join(work, 'source'));
    await fs.writeFile(path.join(work, 'source', 'a.txt'), 'a\n');
    await fs.writeFile(path.join(work, 'data', 'readmodel.db'), 'the audit trail\n');
    repository = await initRepository(path.join(work, 'repo'));
    snapshotId = (await backup(repository, path.join(work, 'source'))).snapshotId;
    bus = new InProcessJobBus();
    statuses = [];
    await bus.consumeStatuses(async (status) => void statuses.push(status));
    const paths = new PathConfinement({
      dataDir: path.join(work, 'data'),
      repository: path.join(work, 'repo'),
      secretFiles: [],
      restoreRoots: [path.join(work, 'restores')],
      sourceRoots: [work],
    });
    worker = new JobWorker(bus, { repository: async () => repository }, { now: () => new Date() }, { heartbeatIntervalMs: 60_000, paths });
  });
  afterAll(() => bus.close());

  const outcome = async (jobId: string) => {
    // The in-process bus delivers statuses asynchronously: wait for the job's final one.
    for (;;) {
      const final = statuses.find((status) => status.jobId === jobId && (status.status === 'failed' || status.status === 'completed'));
      if (final) return final;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };

  it('fails a backup whose source became a symlink into DATA_DIR with SOURCE_FORBIDDEN, writing nothing', async () => {
    const swapped = path.join(work, 'swapped');
    await fs.symlink(path.join(work, 'data'), swapped);
    const before = await filesUnder(path.join(work, 'repo'));
    const jobId = `backup-${randomUUID()}`;
    await worker.handle({
      jobId,
      kind: 'backup',
      key: 'source',
      attempt: 1,
      payload: { backupId: randomUUID(), sourceId: randomUUID(), path: swapped, full: true },
    });
    expect(await outcome(jobId)).toMatchObject({
      status: 'failed',
      failure: { code: 'SOURCE_FORBIDDEN', reason: expect.stringContaining('(service data)'), retryable: false },
    });
    expect(await filesUnder(path.join(work, 'repo'))).toEqual(before);
  });

  it('fails a backup whose source now lies outside SOURCE_ROOTS', async () => {
    const outside = await tempDir('job-confinement-outside');
    const jobId = `backup-${randomUUID()}`;
    await worker.handle({
      jobId,
      kind: 'backup',
      key: 'source',
      attempt: 1,
      payload: { backupId: randomUUID(), sourceId: randomUUID(), path: outside, full: true },
    });
    expect(await outcome(jobId)).toMatchObject({
      status: 'failed',
      failure: { code: 'SOURCE_FORBIDDEN', reason: expect.stringContaining('outside SOURCE_ROOTS') },
    });
  });

  it('fails a restore whose target now leads out of the restore roots through a symlink, writing nothing there', async () => {
    const elsewhere = await tempDir('job-confinement-elsewhere');
    await fs.symlink(elsewhere, path.join(work, 'restores', 'door'));
    const jobId = `restore-${randomUUID()}`;
    await worker.handle({
      jobId,
      kind: 'restore',
      key: 'source',
      attempt: 1,
      payload: {
        restoreId: randomUUID(),
        backupId: randomUUID(),
        snapshotId,
        target: path.join(work, 'restores', 'door', 't'),
        include: [],
      },
    });
    expect(await outcome(jobId)).toMatchObject({
      status: 'failed',
      failure: { code: 'TARGET_OUTSIDE_RESTORE_ROOTS', retryable: false },
    });
    expect(await fs.readdir(elsewhere)).toEqual([]);
  });

  it('runs a restore whose target is inside a restore root', async () => {
    const jobId = `restore-${randomUUID()}`;
    const target = path.join(work, 'restores', 'fine');
    await worker.handle({
      jobId,
      kind: 'restore',
      key: 'source',
      attempt: 1,
      payload: { restoreId: randomUUID(), backupId: randomUUID(), snapshotId, target, include: [] },
    });
    expect((await outcome(jobId)).status).toBe('completed');
    expect(await fs.readFile(path.join(target, 'a.txt'), 'utf8')).toBe('a\n');
  });
});
