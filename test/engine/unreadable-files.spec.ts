import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { restore } from '../../src/engine';
import { isRoot, runCli, runCliOk } from '../support/cli';
import { openRepository } from '../support/repository';
import { listRelative, useTempDirs } from '../support/temp-dirs';
import { dir, file, writeTree } from '../support/tree';

/**
 * A file the backup cannot read is skipped and listed, the backup exits 3, and the snapshot
 * still holds everything else. Root reads a mode-000 file anyway, so when the tests run as
 * root the CLI runs as user nobody (setpriv), with the folders it uses opened up to it.
 */
describe('backup of a tree with an unreadable file', () => {
  const tempDir = useTempDirs();
  const asUser = { unprivileged: true };
  let work: string;
  let source: string;
  let repo: string;

  beforeAll(async () => {
    work = await tempDir('unreadable');
    await fs.chmod(work, 0o777);
    source = path.join(work, 'source');
    repo = path.join(work, 'repo');
    await writeTree(source, {
      'readable.txt': file('everyone may read this\n', { mode: 0o644 }),
      sub: dir({ 'also-readable.txt': file('and this\n', { mode: 0o644 }), 'secret.txt': file('nobody may read this\n', { mode: 0o000 }) }),
    });
    await runCliOk(['repo', 'init', '--repo', repo, '--kdf-n', '1024'], { ...asUser, cwd: work });
  });

  it('skips and lists the file, exits 3, and saves a snapshot of the rest', async () => {
    const secret = path.join(source, 'sub', 'secret.txt');
    const result = await runCli(['backup', source, '--repo', repo], { ...asUser, cwd: work });
    expect(result.code).toBe(3);
    expect(result.stderr).not.toContain('    at ');
    expect(result.stderr).toContain(`custodia: skipped ${secret}: cannot read file`);
    expect(result.stderr).toContain('custodia: backup incomplete: 1 entry could not be read');
    expect(result.stdout).toMatch(/^snapshot [0-9a-f]{8} saved/);

    const repository = await openRepository(repo);
    const [stored] = await repository.listSnapshots();
    expect(stored.snapshot.statistics).toMatchObject({ files: 2, errors: 1 });

    const target = path.join(work, 'restored');
    expect((await restore(repository, stored.id, target)).errors).toEqual([]);
    expect(await listRelative(target)).toEqual(['readable.txt', 'sub', 'sub/also-readable.txt']);
    expect(await fs.readFile(path.join(target, 'sub', 'also-readable.txt'), 'utf8')).toBe('and this\n');
  });

  it('lists the skipped file as a JSON error line with --json', async () => {
    const result = await runCli(['backup', source, '--repo', repo, '--json'], { ...asUser, cwd: work });
    expect(result.code).toBe(3);
    const lines = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { message_type: string; path?: string; errors?: number });
    expect(lines.filter((line) => line.message_type === 'error').map((line) => line.path)).toEqual([
      path.join(source, 'sub', 'secret.txt'),
    ]);
    expect(lines.at(-1)).toMatchObject({ message_type: 'summary', errors: 1 });
  });

  it('runs the CLI as an unprivileged user when the tests run as root', async () => {
    // Guards the test above: as root a mode-000 file would simply be read.
    const result = await runCliOk(['snapshots', '--repo', repo], { ...asUser, cwd: work });
    expect(result.stdout).toContain('2 snapshot(s)');
    const owner = (await fs.stat(path.join(repo, 'config'))).uid;
    if (isRoot) expect(owner).toBe(65534);
    else expect(owner).toBe(process.getuid?.());
  });
});
