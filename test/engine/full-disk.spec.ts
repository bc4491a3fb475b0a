import * as path from 'node:path';
import { backup, check, ObjectStore, Repository, restore } from '../../src/engine';
import { FullDiskStore } from '../support/full-disk-store';
import { FAST_KDF, openRepository } from '../support/repository';
import { DEFAULT_PASSPHRASE } from '../support/cli';
import { useTempDirs } from '../support/temp-dirs';
import { compareTrees, describeTree, dir, file, MiB, pseudoRandomBytes, writeTree } from '../support/tree';

/**
 * A backup whose index write fails (the disk filled up after its packs were stored) must leave
 * nothing a later backup in the same long-lived process can point a snapshot at without an
 * index file naming it: a fresh process must read every snapshot back.
 */
describe('an index write that fails (a full disk)', () => {
  const tempDir = useTempDirs();

  it('leaves the next backup in the same process a snapshot that a fresh process checks and restores whole', async () => {
    const work = await tempDir('full-disk');
    const [source, repoPath, target] = ['source', 'repo', 'restored'].map((name) => path.join(work, name));
    await writeTree(source, {
      'scan.raw': file(pseudoRandomBytes('scan', 3 * MiB)),
      letters: dir({ 'a.txt': file(pseudoRandomBytes('a', 200_000)), 'b.txt': file(pseudoRandomBytes('b', 300_000)) }),
    });
    const store = new FullDiskStore(repoPath);
    const longLived: Repository = await Repository.init(store as ObjectStore, DEFAULT_PASSPHRASE, { kdfCost: FAST_KDF });

    store.refuses = (key) => key.startsWith('index/');
    await expect(backup(longLived, source)).rejects.toThrow('ENOSPC');

    // Space is back; the same repository object (a worker's) backs up again.
    store.refuses = () => false;
    const second = await backup(longLived, source);

    const fresh = await openRepository(repoPath);
    const result = await check(fresh, { readData: true });
    expect(result.errors).toEqual([]);
    expect(result.ok).toBe(true);
    await restore(fresh, second.snapshotId, target);
    expect(compareTrees(await describeTree(source), await describeTree(target))).toEqual([]);
  });
});
