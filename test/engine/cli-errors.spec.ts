import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { expectCliError, runCli, runCliOk } from '../support/cli';
import { exists, listRelative, useTempDirs } from '../support/temp-dirs';
import { compareTrees, describeTree, dir, file, pseudoRandomBytes, writeTree } from '../support/tree';

/**
 * Mistakes a user can make on the command line: each gives one line
 * `custodia: error [CODE]: ...`, a non-zero exit code, no stack trace, and damages nothing.
 */
describe('CLI errors for bad input', () => {
  const tempDir = useTempDirs();
  let work: string;
  let source: string;
  let repo: string;
  let snapshotId: string;

  async function expectRepositoryIntact(repoPath = repo): Promise<void> {
    const checked = await runCli(['check', '--repo', repoPath, '--read-data']);
    expect(checked.stderr).toBe('');
    expect(checked.stdout).toContain('no errors were found');
    expect(checked.code).toBe(0);
  }

  async function snapshotCount(): Promise<number> {
    return (JSON.parse((await runCliOk(['snapshots', '--repo', repo, '--json'])).stdout) as unknown[]).length;
  }

  beforeAll(async () => {
    work = await tempDir('cli-errors');
    source = path.join(work, 'source');
    repo = path.join(work, 'repo');
    await writeTree(source, {
      'a.txt': file('alpha\n'),
      sub: dir({ 'b.bin': file(pseudoRandomBytes('b', 50_000)) }),
    });
    await runCliOk(['repo', 'init', '--repo', repo, '--kdf-n', '1024']);
    const backedUp = await runCliOk(['backup', source, '--repo', repo, '--json']);
    snapshotId = (JSON.parse(backedUp.stdout.trim().split('\n').at(-1) ?? '{}') as { snapshot_id: string }).snapshot_id;
  });

  it('missing repository folder: REPO_NOT_FOUND, exit 10, and no folder is created', async () => {
    const missing = path.join(work, 'no-such-repo');
    const result = await runCli(['snapshots', '--repo', missing]);
    expect(expectCliError(result, 'REPO_NOT_FOUND', 10)).toContain(missing);
    expectCliError(await runCli(['backup', source, '--repo', missing]), 'REPO_NOT_FOUND', 10);
    expect(await exists(missing)).toBe(false);
  });

  it('existing folder that is not a repository: REPO_NOT_INITIALISED, exit 10, folder left empty', async () => {
    const plain = path.join(work, 'plain-folder');
    await fs.mkdir(plain);
    expectCliError(await runCli(['backup', source, '--repo', plain]), 'REPO_NOT_INITIALISED', 10);
    expect(await listRelative(plain)).toEqual([]);
  });

  it('init twice: REPO_ALREADY_EXISTS, and the existing repository keeps its only key', async () => {
    const result = await runCli(['repo', 'init', '--repo', repo, '--kdf-n', '1024'], { passphrase: 'someone else' });
    expectCliError(result, 'REPO_ALREADY_EXISTS', 1);
    expect(await listRelative(path.join(repo, 'keys'))).toHaveLength(1);
    expectCliError(await runCli(['snapshots', '--repo', repo], { passphrase: 'someone else' }), 'WRONG_PASSPHRASE', 12);
    await expectRepositoryIntact();
  });

  it('nonexistent source path: SOURCE_NOT_FOUND, and no snapshot is added', async () => {
    const missing = path.join(work, 'no-such-source');
    expect(expectCliError(await runCli(['backup', missing, '--repo', repo]), 'SOURCE_NOT_FOUND', 1)).toContain(missing);
    expect(await snapshotCount()).toBe(1);
    await expectRepositoryIntact();
  });

  it('restore target that is a file: TARGET_NOT_DIRECTORY, and the file is untouched', async () => {
    const target = path.join(work, 'target-file.txt');
    await fs.writeFile(target, 'keep me\n');
    expectCliError(await runCli(['restore', 'latest', '--repo', repo, '--target', target]), 'TARGET_NOT_DIRECTORY', 1);
    expect(await fs.readFile(target, 'utf8')).toBe('keep me\n');
    await expectRepositoryIntact();
  });

  it('non-empty target without --overwrite: TARGET_NOT_EMPTY, and the folder is untouched', async () => {
    const target = path.join(work, 'busy-target');
    await writeTree(target, { 'a.txt': file('my own a.txt\n') });
    const before = await describeTree(target);
    const result = await runCli(['restore', 'latest', '--repo', repo, '--target', target]);
    expect(expectCliError(result, 'TARGET_NOT_EMPTY', 1)).toContain('--overwrite');
    expect(compareTrees(before, await describeTree(target))).toEqual([]);
    await expectRepositoryIntact();
  });

  it('no passphrase: PASSPHRASE_MISSING', async () => {
    expectCliError(await runCli(['snapshots', '--repo', repo], { passphrase: null }), 'PASSPHRASE_MISSING', 1);
    expectCliError(await runCli(['snapshots', '--repo', repo], { passphrase: '' }), 'PASSPHRASE_MISSING', 1);
    const fresh = path.join(work, 'fresh-repo');
    expectCliError(await runCli(['repo', 'init', '--repo', fresh, '--kdf-n', '1024'], { passphrase: null }), 'PASSPHRASE_MISSING', 1);
    expect(await exists(fresh)).toBe(false);
    await expectRepositoryIntact();
  });

  it('unknown snapshot id: SNAPSHOT_NOT_FOUND, and no target folder is created', async () => {
    const target = path.join(work, 'never-created');
    const unknown = snapshotId.startsWith('0000') ? 'ffff1234' : '0000abcd';
    const result = await runCli(['restore', unknown, '--repo', repo, '--target', target]);
    expect(expectCliError(result, 'SNAPSHOT_NOT_FOUND', 1)).toContain(unknown);
    expect(await exists(target)).toBe(false);
    await expectRepositoryIntact();
  });

  it('truncated index file: INDEX_DAMAGED naming it, until "index rebuild" repairs the index', async () => {
    const damagedRepo = path.join(work, 'damaged-index-repo');
    await runCliOk(['repo', 'init', '--repo', damagedRepo, '--kdf-n', '1024']);
    await runCliOk(['backup', source, '--repo', damagedRepo]);
    const [indexName] = await listRelative(path.join(damagedRepo, 'index'));
    const indexFile = path.join(damagedRepo, 'index', indexName);
    await fs.truncate(indexFile, Math.floor((await fs.stat(indexFile)).size / 2));

    const target = path.join(work, 'restored-after-rebuild');
    for (const args of [
      ['restore', 'latest', '--target', target],
      ['backup', source],
    ]) {
      const line = expectCliError(await runCli([...args, '--repo', damagedRepo]), 'INDEX_DAMAGED', 1);
      expect(line).toContain(`index/${indexName}`);
    }
    expect(await exists(target)).toBe(false);
    const checked = await runCli(['check', '--repo', damagedRepo]);
    expect(checked.code).toBe(1);
    expect(checked.stderr).toContain(`index/${indexName}`);

    await runCliOk(['index', 'rebuild', '--repo', damagedRepo]);
    await runCliOk(['restore', 'latest', '--repo', damagedRepo, '--target', target]);
    expect(compareTrees(await describeTree(source), await describeTree(target))).toEqual([]);
    await expectRepositoryIntact(damagedRepo);
  });
});
