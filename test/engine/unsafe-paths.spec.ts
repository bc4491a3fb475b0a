import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { backup, check, EngineError, Repository, restore, RestoreResult, TreeEntry, verifySnapshot } from '../../src/engine';
import { BlobSaver } from '../../src/engine/backup/blob-saver';
import { initRepository, saveCraftedSnapshot } from '../support/repository';
import { listRelative, useTempDirs } from '../support/temp-dirs';
import { dir, file, writeTree } from '../support/tree';

/**
 * Restore must never write outside its target, whatever a snapshot's manifest says and
 * whatever symlinks already sit in the target.
 */
const tempDir = useTempDirs();

/**
 * `raw`: the name's bytes as `rawName` holds them (format 2), beside a `name` that may look
 * harmless; `rawBase64`: rawName spelled exactly so (base64 has more than one spelling).
 */
type Crafted = { name: string; raw?: Buffer; rawBase64?: string } & (
  { kind: 'file' } | { kind: 'symlink'; target: string } | { kind: 'dir'; children: Crafted[] }
);

/**
 * Writes tree blobs exactly as given (no name checks: this is what a tampered or buggy
 * writer could produce) and a snapshot of them; returns the snapshot id.
 */
async function craftSnapshot(repository: Repository, entries: Crafted[]): Promise<string> {
  const saver = new BlobSaver(repository);
  const payload = Buffer.from('planted by a crafted snapshot\n');
  const { id: contentId } = await saver.save('data', payload);
  const meta = { mode: 0o644, mtimeNs: '1000000000000000000' };
  const saveTree = async (children: Crafted[]): Promise<string> => {
    const treeEntries: TreeEntry[] = [];
    for (const child of children) {
      const rawName = child.rawBase64 ?? child.raw?.toString('base64');
      const naming = { name: child.name, ...(rawName !== undefined ? { rawName } : {}) };
      if (child.kind === 'file') {
        treeEntries.push({ ...meta, ...naming, type: 'file', size: payload.length, inode: '1', content: [contentId] });
      } else if (child.kind === 'symlink') {
        treeEntries.push({ ...meta, ...naming, type: 'symlink', target: child.target });
      } else {
        treeEntries.push({ ...meta, ...naming, mode: 0o755, type: 'dir', subtree: await saveTree(child.children) });
      }
    }
    return (await saver.save('tree', Buffer.from(JSON.stringify({ entries: treeEntries })))).id;
  };
  const tree = await saveTree(entries);
  await saver.finish();
  return saveCraftedSnapshot(repository, tree);
}

const planted: Crafted = { name: 'planted.txt', kind: 'file' };

describe('restore of a snapshot whose manifest holds unsafe names', () => {
  let repository: Repository;
  let arena: string;

  beforeAll(async () => {
    const work = await tempDir('unsafe-names');
    repository = await initRepository(path.join(work, 'repo'));
    arena = path.join(work, 'arena');
  });

  const cases: [string, Crafted[]][] = [
    ['a file named ".."', [{ name: '..', kind: 'file' }]],
    ['a folder named ".."', [{ name: '..', kind: 'dir', children: [planted] }]],
    ['a file named "../evil"', [{ name: '../evil', kind: 'file' }]],
    ['a folder named "../evil"', [{ name: '../evil', kind: 'dir', children: [planted] }]],
    ['a file named "../../evil"', [{ name: '../../evil', kind: 'file' }]],
    ['a file named "a/b"', [{ name: 'a/b', kind: 'file' }]],
    ['a folder named "a/b"', [{ name: 'a/b', kind: 'dir', children: [planted] }]],
    ['a file with an empty name', [{ name: '', kind: 'file' }]],
    ['a folder with an empty name', [{ name: '', kind: 'dir', children: [planted] }]],
    ['a file named "."', [{ name: '.', kind: 'file' }]],
    ['an absolute name', [{ name: '/tmp/evil', kind: 'file' }]],
    ['a file whose name holds a NUL byte', [{ name: 'evil\u0000.txt', kind: 'file' }]],
    ['a folder whose name holds a NUL byte', [{ name: 'evil\u0000', kind: 'dir', children: [planted] }]],
    ['a file named "\\0" (NUL alone)', [{ name: '\u0000', kind: 'file' }]],
    // Format 2's exact bytes: the bytes are what a restore writes, whatever `name` says.
    ['a harmless name whose raw bytes are ".."', [{ name: 'harmless', raw: Buffer.from('..'), kind: 'dir', children: [planted] }]],
    ['a harmless name whose raw bytes are "a/b"', [{ name: 'harmless', raw: Buffer.from('a/b'), kind: 'file' }]],
    ['a harmless name whose raw bytes are "../evil"', [{ name: 'harmless', raw: Buffer.from('../evil'), kind: 'file' }]],
    ['a harmless name whose raw bytes hold a NUL', [{ name: 'harmless', raw: Buffer.from('evil\0\xff', 'latin1'), kind: 'file' }]],
    ['a harmless name whose raw bytes are empty', [{ name: 'harmless', raw: Buffer.alloc(0), kind: 'file' }]],
    ['a symlink whose raw name is ".."', [{ name: 'harmless', raw: Buffer.from('..'), kind: 'symlink', target: '/tmp' }]],
    [
      'one name listed twice, once as a string and once as raw bytes, as a symlink and as a folder',
      [
        { name: 'sub', kind: 'symlink', target: '/tmp' },
        { name: 'other', raw: Buffer.from('sub'), kind: 'dir', children: [planted] },
      ],
    ],
    [
      'one raw name listed twice in two base64 spellings, as a symlink and as a folder',
      [
        { name: 'one', rawBase64: Buffer.from('sub\xff', 'latin1').toString('base64'), kind: 'symlink', target: '/tmp' },
        { name: 'two', rawBase64: `${Buffer.from('sub\xff', 'latin1').toString('base64')}\n`, kind: 'dir', children: [planted] },
      ],
    ],
    // A symlink and a folder under one name: the folder's files would be written through the link.
    [
      'a name listed twice, as a symlink and as a folder',
      [
        { name: 'sub', kind: 'symlink', target: '/tmp' },
        { name: 'sub', kind: 'dir', children: [planted] },
      ],
    ],
    // Safe entries first: the whole restore must be refused before any of them is written.
    [
      'a ".." deep inside, after safe entries',
      [
        { name: 'a-safe-file.txt', kind: 'file' },
        {
          name: 'safe',
          kind: 'dir',
          children: [planted, { name: '..', kind: 'dir', children: [{ name: '..', kind: 'dir', children: [planted] }] }],
        },
      ],
    ],
  ];

  it.each(cases)('refuses %s with UNSAFE_PATH and writes nothing anywhere', async (_label, entries) => {
    const snapshotId = await craftSnapshot(repository, entries);
    await fs.rm(arena, { recursive: true, force: true });
    const target = path.join(arena, 'inner', 'target');
    await fs.mkdir(path.dirname(target), { recursive: true });

    const restoring = restore(repository, snapshotId, target);
    await expect(restoring).rejects.toBeInstanceOf(EngineError);
    await expect(restoring).rejects.toMatchObject({ code: 'UNSAFE_PATH' });

    // The manifest is refused before anything is written: not even the target is created.
    expect(await listRelative(arena)).toEqual(['inner']);
  });

  it.each(cases)('verify refuses %s with UNSAFE_PATH, and check calls that snapshot unrestorable', async (_label, entries) => {
    const snapshotId = await craftSnapshot(repository, entries);
    await expect(verifySnapshot(repository, snapshotId)).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
    const checked = await check(repository);
    expect(checked.ok).toBe(false);
    expect(checked.errors.filter((error) => error.object === `snapshots/${snapshotId}`)).toEqual([
      expect.objectContaining({ kind: 'snapshot-unrestorable', affected: [{ snapshot: snapshotId, paths: ['/'] }] }),
    ]);
  });
});

describe('restore into a target holding a symlink to a folder outside it', () => {
  let work: string;
  let repository: Repository;
  let outside: string;
  let target: string;

  beforeAll(async () => {
    work = await tempDir('symlink-target');
    const source = path.join(work, 'source');
    await writeTree(source, {
      sub: dir({ 'file.txt': file('would land outside\n'), deeper: dir({ 'x.txt': file('x') }) }),
      'top.txt': file('top\n'),
    });
    repository = await initRepository(path.join(work, 'repo'));
    await backup(repository, source);
    outside = path.join(work, 'outside');
    await writeTree(outside, { 'victim.txt': file('precious\n') });
    target = path.join(work, 'target');
    await fs.mkdir(target);
    await fs.symlink(outside, path.join(target, 'sub'));
    await fs.symlink(path.join(outside, 'victim.txt'), path.join(target, 'top.txt'));
  });

  it('refuses to restore the folder through the symlink, with UNSAFE_PATH', async () => {
    let thrown: unknown = null;
    let result: RestoreResult | null = null;
    try {
      result = await restore(repository, 'latest', target, { overwrite: true });
    } catch (error) {
      thrown = error;
    }
    if (thrown) {
      expect(thrown).toBeInstanceOf(EngineError);
      expect(thrown).toMatchObject({ code: 'UNSAFE_PATH', message: expect.stringContaining(path.join(target, 'sub')) });
    } else {
      expect(result?.errors.map((error) => error.path)).toContain('sub');
    }
    expect(await listRelative(outside)).toEqual(['victim.txt']);
    expect(await fs.readFile(path.join(outside, 'victim.txt'), 'utf8')).toBe('precious\n');
    expect((await fs.lstat(path.join(target, 'sub'))).isSymbolicLink()).toBe(true);
  });

  it('replaces a symlink standing where a file is restored, instead of writing through it', async () => {
    const result = await restore(repository, 'latest', target, { overwrite: true, include: ['top.txt'] });
    expect(result.errors).toEqual([]);
    const restored = await fs.lstat(path.join(target, 'top.txt'));
    expect(restored.isFile()).toBe(true);
    expect(await fs.readFile(path.join(target, 'top.txt'), 'utf8')).toBe('top\n');
    expect(await fs.readFile(path.join(outside, 'victim.txt'), 'utf8')).toBe('precious\n');
  });

  it('refuses a file under a folder that is a symlink deeper down', async () => {
    const nested = path.join(work, 'nested-target');
    await fs.mkdir(path.join(nested, 'sub'), { recursive: true });
    await fs.symlink(outside, path.join(nested, 'sub', 'deeper'));
    await expect(restore(repository, 'latest', nested, { overwrite: true, include: ['sub/deeper/x.txt'] })).rejects.toMatchObject({
      code: 'UNSAFE_PATH',
    });
    expect(await listRelative(outside)).toEqual(['victim.txt']);
  });
});
