import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ReceivedJobStatus } from '../../src/application/ports/job-bus';
import { backup, check, FsObjectStore, ObjectInfo, ObjectStore, Repository, restore } from '../../src/engine';
import { isRepositoryObjectName } from '../../src/engine/repository/object-names';
import { InProcessJobBus } from '../../src/infrastructure/bus/in-process-job-bus';
import { PathConfinement } from '../../src/infrastructure/persistence/path-confinement';
import { JobWorker } from '../../src/worker/job-worker';
import { DEFAULT_PASSPHRASE } from '../support/cli';
import { initRepository } from '../support/repository';
import { useTempDirs } from '../support/temp-dirs';
import { compareTrees, describeTree, dir, file, writeTree } from '../support/tree';

const HEX64 = 'ab'.repeat(32);

/**
 * A folder store whose listings also show names that cannot be read, as S3Proxy's filesystem
 * backend shows an upload in progress (`<key>-<uuid>`, "not found" when fetched), plus a
 * well-formed snapshot name that is gone by the time it is read (removed by another process).
 */
class StoreWithPhantoms implements ObjectStore {
  constructor(
    private readonly inner: FsObjectStore,
    private readonly phantoms: string[],
  ) {}
  get location() {
    return this.inner.location;
  }
  put = (key: string, data: Buffer) => this.inner.put(key, data);
  get = (key: string) => this.inner.get(key);
  getRange = (key: string, offset: number, length: number) => this.inner.getRange(key, offset, length);
  stat = (key: string) => this.inner.stat(key);
  delete = (key: string) => this.inner.delete(key);
  exists = () => this.inner.exists();
  listLeftovers = () => this.inner.listLeftovers();
  async list(prefix: string): Promise<ObjectInfo[]> {
    const phantoms = this.phantoms.filter((key) => key.startsWith(prefix)).map((key) => ({ key, size: 100 }));
    return [...(await this.inner.list(prefix)), ...phantoms].sort((a, b) => a.key.localeCompare(b.key));
  }
}

describe('names in a repository listing that are not readable repository objects', () => {
  const tempDir = useTempDirs();

  it('knows the names the engine writes and nothing else', () => {
    for (const name of [
      'config',
      `keys/${'0f'.repeat(16)}`,
      `data/ab/${HEX64}`,
      `index/${HEX64}`,
      `snapshots/${HEX64}`,
      `subject-keys/p_seudo-nym/${'0f'.repeat(16)}`,
      `subject-tombstones/p_seudo-nym/${'0f'.repeat(16)}`,
    ]) {
      expect(isRepositoryObjectName(name)).toBe(true);
    }
    for (const name of [
      `snapshots/${HEX64}-${randomUUID()}`,
      `index/${HEX64}.tmp`,
      `data/cd/${HEX64}`,
      `data/${HEX64}`,
      'snapshots/README.txt',
      `subject-keys/alice@example.com/${'0f'.repeat(16)}`,
      'config.bak',
    ]) {
      expect(isRepositoryObjectName(name)).toBe(false);
    }
  });

  it('accepts every object a backup with data subjects writes', async () => {
    const work = await tempDir('names');
    const source = path.join(work, 'source');
    await writeTree(source, { customers: dir({ anna: dir({ 'profile.json': file('{"name":"Anna"}') }) }), 'notes.txt': file('hello\n') });
    const repository = await initRepository(path.join(work, 'repo'));
    await backup(repository, source, { subjects: { rules: ['customers/{subject}/**'], pseudonymise: (id) => `p-${id.length}` } });
    const names = (await repository.store.list('')).map((object) => object.key);
    expect(names.filter((name) => name.startsWith('subject-keys/'))).toHaveLength(1);
    expect(names.filter((name) => !isRepositoryObjectName(name))).toEqual([]);
  });

  describe('while another process uploads and removes objects', () => {
    let work: string;
    let source: string;
    let store: StoreWithPhantoms;
    let firstSnapshot: string;
    const inFlight = [`snapshots/${HEX64}-${randomUUID()}`, `index/${HEX64}-${randomUUID()}`, `data/ab/${HEX64}-${randomUUID()}`];
    const removed = `snapshots/${'cd'.repeat(32)}`;

    beforeAll(async () => {
      work = await tempDir('phantoms');
      source = path.join(work, 'source');
      await writeTree(source, { 'a.txt': file('alpha\n'), sub: dir({ 'b.txt': file('beta\n') }) });
      firstSnapshot = (await backup(await initRepository(path.join(work, 'repo')), source)).snapshotId;
      store = new StoreWithPhantoms(new FsObjectStore(path.join(work, 'repo')), [...inFlight, removed]);
    });

    it('opens the repository, backs up on the right parent and restores', async () => {
      const repository = await Repository.open(store, DEFAULT_PASSPHRASE);
      expect((await repository.listSnapshots()).map((stored) => stored.id)).toEqual([firstSnapshot]);
      const second = await backup(repository, source);
      expect(second.parent).toBe(firstSnapshot);
      const target = path.join(work, 'restored');
      await restore(repository, second.snapshotId, target);
      expect(compareTrees(await describeTree(source), await describeTree(target))).toEqual([]);
    });

    it('lets check pass and count the names it ignored', async () => {
      const result = await check(await Repository.open(store, DEFAULT_PASSPHRASE), { readData: true });
      expect(result.errors).toEqual([]);
      expect(result.ok).toBe(true);
      expect(result.warnings).toEqual([expect.stringMatching(/^3 object\(s\) are not Custodia's and were ignored/)]);
    });

    it('lets a worker complete a backup job, even beside a damaged snapshot of another source', async () => {
      const other = path.join(work, 'other');
      await writeTree(other, { 'c.txt': file('gamma\n') });
      const damaged = (await backup(await Repository.open(store, DEFAULT_PASSPHRASE), other)).snapshotId;
      const damagedFile = path.join(work, 'repo', 'snapshots', damaged);
      await fs.truncate(damagedFile, Math.floor((await fs.stat(damagedFile)).size / 2));

      const bus = new InProcessJobBus();
      const statuses: ReceivedJobStatus[] = [];
      await bus.consumeStatuses(async (status) => void statuses.push(status));
      const repository = await Repository.open(store, DEFAULT_PASSPHRASE);
      const paths = new PathConfinement({
        dataDir: path.join(work, 'data'),
        repository: path.join(work, 'repo'),
        secretFiles: [],
        restoreRoots: [path.join(work, 'restores')],
        sourceRoots: null,
      });
      const worker = new JobWorker(
        bus,
        { repository: async () => repository },
        { now: () => new Date() },
        { heartbeatIntervalMs: 60_000, paths },
      );
      const backupId = randomUUID();
      await worker.handle({
        jobId: `backup-${randomUUID()}`,
        kind: 'backup',
        key: 'source',
        attempt: 1,
        payload: { backupId, sourceId: randomUUID(), path: source, full: false },
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      await bus.close();
      expect(statuses.map((status) => status.status)).toEqual(['started', 'completed']);
    });
  });
});
