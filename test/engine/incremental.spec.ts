import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { backup, restore } from '../../src/engine';
import { initRepository, openRepository } from '../support/repository';
import { useTempDirs } from '../support/temp-dirs';
import { compareTrees, compressibleText, describeTree, dir, file, MiB, pseudoRandomBytes, symlink, writeTree } from '../support/tree';

/**
 * A second backup of the same path uses the previous snapshot as its parent: files whose size,
 * mtime and inode are unchanged are not read again, and unchanged content is not stored again.
 */
describe('incremental backups', () => {
  const tempDir = useTempDirs();
  const lastWeek = new Date(Date.now() - 7 * 24 * 3600 * 1000);
  let work: string;
  let source: string;
  let repoPath: string;
  let fileCount: number;
  let totalBytes: number;
  let firstId: string;
  let secondId: string;

  beforeAll(async () => {
    work = await tempDir('incremental');
    source = path.join(work, 'source');
    repoPath = path.join(work, 'repo');
    await writeTree(source, {
      'photo.raw': file(pseudoRandomBytes('photo', 3 * MiB)),
      'notes.txt': file(compressibleText('notes', 40_000), { mtime: lastWeek }),
      'empty.txt': file(''),
      projects: dir({
        'plan.md': file(compressibleText('plan', 9000), { mtime: lastWeek }),
        archive: dir({ 'old.bin': file(pseudoRandomBytes('old', 600_000)) }),
        current: symlink('plan.md'),
      }),
    });
    const files = [...(await describeTree(source)).values()].filter((entry) => entry.type === 'file');
    fileCount = files.length;
    totalBytes = files.reduce((sum, entry) => sum + (entry.size ?? 0), 0);
    const first = await backup(await initRepository(repoPath), source);
    expect(first.snapshot.statistics).toMatchObject({ filesRead: fileCount, bytesRead: totalBytes, filesUnchanged: 0 });
    firstId = first.snapshotId;
  });

  it('reads nothing when the tree is unchanged, and records the parent', async () => {
    const second = await backup(await openRepository(repoPath), source);
    secondId = second.snapshotId;
    expect(second.parent).toBe(firstId);
    expect(second.snapshot.parent).toBe(firstId);
    expect(second.snapshot.statistics).toMatchObject({
      files: fileCount,
      filesRead: 0,
      bytesRead: 0,
      filesUnchanged: fileCount,
      totalBytes,
      newChunks: 0,
      newBytes: 0,
    });
    // Nothing changed, so the snapshot describes the very same tree.
    expect(second.snapshot.tree).toBe((await (await openRepository(repoPath)).resolveSnapshot(firstId)).snapshot.tree);
  });

  it('after one file changes, reads only that file', async () => {
    const changed = path.join(source, 'projects', 'plan.md');
    const newContent = compressibleText('plan, second edition', 9000);
    await fs.writeFile(changed, newContent);
    const third = await backup(await openRepository(repoPath), source);
    expect(third.parent).toBe(secondId);
    expect(third.snapshot.parent).toBe(secondId);
    expect(third.snapshot.statistics).toMatchObject({
      files: fileCount,
      filesRead: 1,
      bytesRead: newContent.length,
      filesUnchanged: fileCount - 1,
      newChunks: 1,
    });

    const target = path.join(work, 'restored-after-change');
    const result = await restore(await openRepository(repoPath), third.snapshotId, target);
    expect(result.errors).toEqual([]);
    expect(compareTrees(await describeTree(source), await describeTree(target))).toEqual([]);
  });

  it('with full: true, re-reads every file but stores no new data', async () => {
    const full = await backup(await openRepository(repoPath), source, { full: true });
    expect(full.snapshot.statistics).toMatchObject({
      files: fileCount,
      filesRead: fileCount,
      filesUnchanged: 0,
      newChunks: 0,
    });
    const { bytesRead, duplicateBytes, totalBytes: total, newBytes } = full.snapshot.statistics;
    expect(bytesRead).toBe(total);
    expect(duplicateBytes).toBe(total);
    // Only tree blobs could be new, and none is: the metadata did not change either.
    expect(newBytes).toBe(0);
  });

  it('still restores the first snapshot as it was', async () => {
    const target = path.join(work, 'restored-first');
    const result = await restore(await openRepository(repoPath), firstId, target, { include: ['projects/plan.md'] });
    expect(result.errors).toEqual([]);
    expect(await fs.readFile(path.join(target, 'projects', 'plan.md'))).toEqual(compressibleText('plan', 9000));
  });
});
