import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { setAttributeSync } from '@napi-rs/xattr';
import { nativeFs } from '../../src/engine/platform/native-fs';
import { compareWalks, walkTree } from '../support/fidelity';
import { useTempDirs } from '../support/temp-dirs';

/**
 * The fidelity suite's walker and comparator themselves: two walks of one tree agree, and
 * each kind of difference a restore could make is reported as a line naming it.
 */
describe('the fidelity walker and comparator', () => {
  const tempDir = useTempDirs();
  const AT_FDCWD = -100;

  /** `root`/raw-<0xff>: a name that is not UTF-8. */
  const rawName = (root: string) => Buffer.concat([Buffer.from(`${root}/raw-`), Buffer.from([0xff])]);

  async function makeTree(root: string): Promise<void> {
    await fs.mkdir(path.join(root, 'folder'), { recursive: true });
    await fs.writeFile(path.join(root, 'folder', 'a.txt'), 'alpha\n');
    await fs.link(path.join(root, 'folder', 'a.txt'), path.join(root, 'a-link'));
    await fs.writeFile(path.join(root, 'b.txt'), 'beta\n');
    const sparse = await fs.open(path.join(root, 'sparse'), 'w');
    await sparse.write(Buffer.from('end'), 0, 3, 32 * 1024 * 1024 - 3);
    await sparse.close();
    await fs.symlink('b.txt', path.join(root, 'link'));
    await fs.writeFile(rawName(root), 'x');
    setAttributeSync(path.join(root, 'b.txt'), 'user.note', 'kept');
    for (const name of ['folder/a.txt', 'b.txt', 'sparse', 'link', 'folder', '.']) {
      nativeFs().lutimesat(AT_FDCWD, path.join(root, name), 1_000_000_000_000_000_001n, 1_100_000_000_000_000_002n);
    }
  }

  it('finds no difference between two walks of one tree, nor a walk and its rerun after the tree was read', async () => {
    const root = path.join(await tempDir('walker'), 'tree');
    await makeTree(root);
    const first = await walkTree(root);
    expect(first.size).toBe(8); // the root, folder, folder/a.txt, a-link, b.txt, sparse, link, raw-\xff
    expect(first.get(Buffer.from('sparse').toString('hex'))).toMatchObject({ sparse: true, size: 32 * 1024 * 1024 });
    expect(first.get(Buffer.from('a-link').toString('hex'))?.linkGroup).toEqual(['a-link', 'folder/a.txt']);
    expect(compareWalks(first, await walkTree(root))).toEqual([]);
  });

  it('reports every kind of difference, naming the entry and both values', async () => {
    const work = await tempDir('walker-diff');
    const [want, got] = [path.join(work, 'want'), path.join(work, 'got')];
    await makeTree(want);
    await makeTree(got);
    await fs.chmod(path.join(got, 'b.txt'), 0o600);
    setAttributeSync(path.join(got, 'b.txt'), 'user.note', 'changed');
    await fs.unlink(path.join(got, 'a-link'));
    await fs.writeFile(path.join(got, 'a-link'), 'alpha\n');
    await fs.writeFile(path.join(got, 'folder', 'a.txt'), 'ALPHA\n');
    await fs.writeFile(path.join(got, 'sparse'), Buffer.concat([Buffer.alloc(32 * 1024 * 1024 - 3), Buffer.from('end')]));
    await fs.rm(path.join(got, 'link'));
    await fs.symlink('elsewhere', path.join(got, 'link'));
    await fs.writeFile(path.join(got, 'extra'), '');
    for (const name of ['folder/a.txt', 'b.txt', 'sparse', 'link', 'a-link', 'extra', 'folder']) {
      nativeFs().lutimesat(AT_FDCWD, path.join(got, name), 1_000_000_000_000_000_001n, 1_100_000_000_000_000_002n);
    }
    nativeFs().lutimesat(AT_FDCWD, path.join(got, 'b.txt'), 1_000_000_000_000_000_001n, 1_100_000_000_000_000_003n);
    nativeFs().lutimesat(AT_FDCWD, got, 1_000_000_000_000_000_001n, 1_100_000_000_000_000_002n);

    const lines = compareWalks(await walkTree(want), await walkTree(got));
    expect(lines).toEqual(
      expect.arrayContaining([
        'b.txt: mode 0600, expected 0644',
        'b.txt: xattr user.note (base64) Y2hhbmdlZA==, expected a2VwdA==',
        'b.txt: mtime 1100000000000000003 ns, expected 1100000000000000002 ns',
        'a-link: link count 1, expected 2',
        'a-link: hard-link group null, expected ["a-link","folder/a.txt"]',
        expect.stringMatching(/^folder\/a\.txt: content sha256 [0-9a-f]{64}, expected [0-9a-f]{64}$/),
        expect.stringMatching(/^sparse: allocated bytes \d+, expected at most \d+ \+ 1048576/),
        'sparse: holes none, expected some (a sparse file)',
        `link: symlink target (hex) ${Buffer.from('elsewhere').toString('hex')}, expected ${Buffer.from('b.txt').toString('hex')}`,
        'extra: unexpected (a file)',
      ]),
    );
    await fs.rm(rawName(got));
    expect(compareWalks(await walkTree(want), await walkTree(got))).toContain('raw-\\xff: missing (a file)');
  });
});
