import * as path from 'node:path';
import { backup, Repository, restore } from '../../src/engine';
import { runCliOk } from '../support/cli';
import { initRepository, openRepository } from '../support/repository';
import { listRelative, useTempDirs } from '../support/temp-dirs';
import { compareTrees, describeTree, EntryState, MiB, standardTree, writeTree } from '../support/tree';

/**
 * Backup then restore of a tree holding every kind of entry: what comes back must be what went
 * in, down to modes, symlink targets and modification times.
 */
describe('backup and restore round trip', () => {
  const tempDir = useTempDirs();
  let work: string;
  let source: string;
  let repoPath: string;
  let original: Map<string, EntryState>;
  let snapshotId: string;

  beforeAll(async () => {
    work = await tempDir('round-trip');
    source = path.join(work, 'source');
    repoPath = path.join(work, 'repo');
    await writeTree(source, standardTree({ absoluteLinkTarget: path.join(work, 'outside', 'target.txt') }));
    original = await describeTree(source);
    const repository = await initRepository(repoPath);
    const result = await backup(repository, source);
    expect(result.errors).toEqual([]);
    snapshotId = result.snapshotId;
  });

  it('records what it backed up in the snapshot', async () => {
    const repository = await openRepository(repoPath);
    const { snapshot } = await repository.resolveSnapshot(snapshotId);
    const count = (type: EntryState['type']) => [...original.values()].filter((entry) => entry.type === type).length;
    expect(snapshot.path).toBe(source);
    expect(snapshot.sourceType).toBe('dir');
    expect(snapshot.parent).toBeNull();
    expect(snapshot.statistics).toMatchObject({
      files: count('file'),
      directories: count('dir'),
      symlinks: count('symlink'),
      filesRead: count('file'),
      errors: 0,
    });
    // The 11 MiB file exceeds the 8 MiB maximum chunk, so it must have been split.
    expect(snapshot.statistics.chunks).toBeGreaterThan(count('file'));
  });

  it('restores every entry with its content, type, mode, mtime and symlink target', async () => {
    const repository = await openRepository(repoPath);
    const target = path.join(work, 'restored-all');
    const result = await restore(repository, snapshotId, target);
    expect(result.errors).toEqual([]);
    expect(compareTrees(original, await describeTree(target))).toEqual([]);
    expect(result.files).toBe([...original.values()].filter((entry) => entry.type === 'file').length);
    // The huge file really is larger than one maximum-size chunk.
    expect(original.get('big/huge.bin')?.size).toBeGreaterThan(8 * MiB);
  });

  it('restores "latest" through a fresh repository handle', async () => {
    const repository = await openRepository(repoPath);
    const target = path.join(work, 'restored-latest');
    const result = await restore(repository, 'latest', target);
    expect(result.snapshotId).toBe(snapshotId);
    expect(compareTrees(original, await describeTree(target))).toEqual([]);
  });

  it('with an include of one file, restores only that file and its parent folders', async () => {
    const repository = await openRepository(repoPath);
    const target = path.join(work, 'restored-one-file');
    const result = await restore(repository, snapshotId, target, { include: ['docs/nested/deep.txt'] });
    expect(result.errors).toEqual([]);
    expect(await listRelative(target)).toEqual(['docs', 'docs/nested', 'docs/nested/deep.txt']);
    expect(compareTrees(subset(original, ['docs', 'docs/nested', 'docs/nested/deep.txt']), await describeTree(target))).toEqual([]);
  });

  it('with an include of one folder, restores that folder whole and nothing beside it', async () => {
    const repository = await openRepository(repoPath);
    const target = path.join(work, 'restored-one-folder');
    const result = await restore(repository, snapshotId, target, { include: ['docs/nested'] });
    expect(result.errors).toEqual([]);
    const expected = [...original.keys()].filter((name) => name === 'docs' || name.startsWith('docs/nested'));
    expect(compareTrees(subset(original, expected), await describeTree(target))).toEqual([]);
    expect(await listRelative(target)).not.toContain('docs/readme.md');
  });

  it('round-trips through the CLI, including --include', async () => {
    const cliRepo = path.join(work, 'cli-repo');
    await runCliOk(['repo', 'init', '--repo', cliRepo, '--kdf-n', '1024']);
    const backedUp = await runCliOk(['backup', source, '--repo', cliRepo, '--json']);
    const summary = JSON.parse(backedUp.stdout.trim().split('\n').at(-1) ?? '{}') as { snapshot_id: string; errors: number };
    expect(summary.errors).toBe(0);

    const full = path.join(work, 'cli-restored');
    await runCliOk(['restore', summary.snapshot_id.slice(0, 8), '--repo', cliRepo, '--target', full]);
    expect(compareTrees(original, await describeTree(full))).toEqual([]);

    const partial = path.join(work, 'cli-restored-include');
    await runCliOk(['restore', 'latest', '--repo', cliRepo, '--target', partial, '--include', 'big/log.txt']);
    expect(await listRelative(partial)).toEqual(['big', 'big/log.txt']);
  });

  it('backs up and restores a single file given as the source', async () => {
    const repository: Repository = await openRepository(repoPath);
    const result = await backup(repository, path.join(source, 'run.sh'));
    expect(result.snapshot.sourceType).toBe('file');
    const target = path.join(work, 'restored-single-file');
    await restore(repository, result.snapshotId, target);
    expect(compareTrees(subset(original, ['run.sh']), await describeTree(target))).toEqual([]);
  });
});

function subset(tree: Map<string, EntryState>, names: string[]): Map<string, EntryState> {
  return new Map(names.map((name) => [name, tree.get(name) as EntryState]));
}
