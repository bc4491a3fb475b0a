import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { backup, check, restore } from '../../src/engine';
import { expectCliError, runCli } from '../support/cli';
import { initRepository, openRepository } from '../support/repository';
import { useTempDirs } from '../support/temp-dirs';
import { compareTrees, describeTree, file, writeTree } from '../support/tree';

/**
 * One damaged snapshot object must cost that snapshot only: the others stay listable and
 * restorable, new backups still run, and check names the damaged one.
 */
describe('a repository with one damaged snapshot', () => {
  const tempDir = useTempDirs();
  let work: string;
  let repoPath: string;
  let photos: string;
  let letters: string;
  let intactId: string;
  let damagedId: string;

  beforeAll(async () => {
    work = await tempDir('damaged-snapshot');
    repoPath = path.join(work, 'repo');
    photos = path.join(work, 'photos');
    letters = path.join(work, 'letters');
    await writeTree(photos, { 'beach.jpg': file('not really a photo\n') });
    await writeTree(letters, { 'to-anna.txt': file('Dear Anna,\n') });
    const repository = await initRepository(repoPath);
    intactId = (await backup(repository, photos)).snapshotId;
    damagedId = (await backup(repository, letters)).snapshotId;
    const snapshotFile = path.join(repoPath, 'snapshots', damagedId);
    await fs.truncate(snapshotFile, Math.floor((await fs.stat(snapshotFile)).size / 2));
  });

  it('still restores the intact snapshot, by id and as "latest"', async () => {
    const repository = await openRepository(repoPath);
    for (const reference of [intactId, intactId.slice(0, 8), 'latest']) {
      const target = path.join(work, `restored-${reference}`);
      const result = await restore(repository, reference, target);
      expect(result.snapshotId).toBe(intactId);
      expect(compareTrees(await describeTree(photos), await describeTree(target))).toEqual([]);
    }
  });

  it('refuses to restore the damaged snapshot with SNAPSHOT_DAMAGED', async () => {
    const restoring = restore(await openRepository(repoPath), damagedId.slice(0, 8), path.join(work, 'never'));
    await expect(restoring).rejects.toMatchObject({ code: 'SNAPSHOT_DAMAGED' });
  });

  it('still backs up, using the intact snapshot of the same path as parent', async () => {
    const result = await backup(await openRepository(repoPath), photos);
    expect(result.parent).toBe(intactId);
    expect(result.snapshot.statistics.filesRead).toBe(0);
  });

  it('is reported by check and by the CLI snapshot list, which still lists the others', async () => {
    const checked = await check(await openRepository(repoPath));
    expect(checked.ok).toBe(false);
    expect(checked.errors).toEqual([expect.objectContaining({ kind: 'snapshot-damaged', object: `snapshots/${damagedId}` })]);

    const listed = await runCli(['snapshots', '--repo', repoPath]);
    expect(listed.stdout).toContain(intactId.slice(0, 8));
    // The intact photos snapshot and the one the previous test added; not the damaged one.
    expect(listed.stdout).toContain('2 snapshot(s)');
    expect(expectCliError(listed, 'SNAPSHOT_DAMAGED', 1)).toContain(damagedId);
  });
});
