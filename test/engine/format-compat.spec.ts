import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { backup, check, FsObjectStore, Repository, restore, verifySnapshot } from '../../src/engine';
import { FORMAT_VERSION } from '../../src/engine/repository/format';
import { walkTree, WalkRecord } from '../support/fidelity/walker';
import { useTempDirs } from '../support/temp-dirs';

/**
 * Repositories written by an earlier format version restore what was backed up into them,
 * byte for byte, with the engine of today. The fixture cannot be regenerated (the engine that
 * wrote it is gone): see test/fixtures/make-format-1-repository.md and
 * make-format-2-repository.md.
 */
const FIXTURES = path.join(__dirname, '..', 'fixtures');

/** One entry of the walk recorded when the fixture was made. */
interface ExpectedEntry {
  /** Hex of the path's bytes below the backed-up folder. */
  path: string;
  display: string;
  type: 'file' | 'dir' | 'symlink';
  /** Octal, & 07777; absent for symlinks. */
  mode?: string;
  mtimeNs: string;
  size?: number;
  sha256?: string;
  /** Hex of the target's bytes. */
  target?: string;
}

interface Expected {
  formatVersion: number;
  passphrase: string;
  snapshotId: string;
  entries: ExpectedEntry[];
}

/** What differs between the recorded walk and a restored tree's, one line per difference. */
function differences(expected: ExpectedEntry[], restored: Map<string, WalkRecord>): string[] {
  const out: string[] = [];
  for (const want of expected) {
    const got = restored.get(want.path);
    if (!got) {
      out.push(`${want.display}: missing (a ${want.type})`);
      continue;
    }
    const actual: ExpectedEntry = {
      path: got.path,
      display: want.display,
      type: got.type as ExpectedEntry['type'],
      ...(got.type === 'symlink' ? {} : { mode: got.mode.toString(8).padStart(4, '0') }),
      mtimeNs: got.mtimeNs,
      ...(got.type === 'file' ? { size: got.size, sha256: got.sha256 } : {}),
      ...(got.type === 'symlink' ? { target: got.target } : {}),
    };
    for (const field of ['type', 'mode', 'mtimeNs', 'size', 'sha256', 'target'] as const) {
      if (actual[field] !== want[field]) out.push(`${want.display}: ${field} ${actual[field]}, expected ${want[field]}`);
    }
  }
  const known = new Set(expected.map((entry) => entry.path));
  for (const [key, got] of restored) if (key !== '' && !known.has(key)) out.push(`${got.display}: unexpected (a ${got.type})`);
  return out;
}

describe.each([
  [1, 'names as strings'],
  [2, 'names as exact bytes'],
])('a repository written in format %i (%s)', (version) => {
  const tempDir = useTempDirs();
  let expected: Expected;
  let repoPath: string;
  let work: string;

  beforeAll(async () => {
    expected = JSON.parse(await fs.readFile(path.join(FIXTURES, `format-${version}-repository.expected.json`), 'utf8')) as Expected;
    work = await tempDir(`format-${version}`);
    // A copy: opening and restoring take locks, which write into the repository.
    repoPath = path.join(work, 'repo');
    await fs.cp(path.join(FIXTURES, `format-${version}-repository`), repoPath, { recursive: true });
  });

  const open = () => Repository.open(new FsObjectStore(repoPath), expected.passphrase);

  it(`is the fixture it claims to be: a format-${version} config and snapshot`, async () => {
    expect(expected.formatVersion).toBe(version);
    const config = JSON.parse(await fs.readFile(path.join(repoPath, 'config'), 'utf8')) as { version: number };
    expect(config.version).toBe(version);
    const repository = await open();
    const { id, snapshot } = await repository.resolveSnapshot('latest');
    expect(id).toBe(expected.snapshotId);
    expect(snapshot.version).toBe(version);
    expect(expected.entries.map((entry) => entry.type).sort()).toEqual(expect.arrayContaining(['dir', 'file', 'symlink']));
    if (version < 2) return;
    // The names that made format 2 are in its fixture.
    const names = expected.entries.map((entry) => Buffer.from(entry.path, 'hex'));
    expect(names.some((name) => name.includes(0x5c))).toBe(true);
    expect(names.some((name) => !isUtf8(name))).toBe(true);
    expect(expected.entries.some((entry) => entry.type === 'symlink' && !isUtf8(Buffer.from(entry.target ?? '', 'hex')))).toBe(true);
  });

  it('restores every entry as it was backed up: name bytes, type, mode, mtime to the ns, content, symlink target', async () => {
    const target = path.join(work, 'restored');
    const result = await restore(await open(), expected.snapshotId, target);
    expect(result.errors).toEqual([]);
    expect(differences(expected.entries, await walkTree(target))).toEqual([]);
  });

  it('checks healthy and verifies', async () => {
    const repository = await open();
    const checked = await check(repository, { readData: true });
    expect(checked.errors).toEqual([]);
    expect(checked.snapshots).toBe(1);
    const verified = await verifySnapshot(repository, expected.snapshotId);
    expect(verified.snapshotId).toBe(expected.snapshotId);
    expect(verified.bytesChecked).toBeGreaterThan(0);
  });

  it('takes a new backup with the current engine, and still restores the old snapshot exactly', async () => {
    const source = path.join(work, 'new-source');
    await fs.mkdir(source);
    await fs.writeFile(path.join(source, 'new.txt'), 'written by the current engine\n');
    const added = await backup(await open(), source);
    expect(added.errors).toEqual([]);
    const repository = await open();
    expect((await repository.resolveSnapshot(added.snapshotId)).snapshot.version).toBe(FORMAT_VERSION);
    const fresh = path.join(work, 'restored-new');
    expect((await restore(repository, added.snapshotId, fresh)).errors).toEqual([]);
    expect(await fs.readFile(path.join(fresh, 'new.txt'), 'utf8')).toBe('written by the current engine\n');
    const old = path.join(work, 'restored-old-again');
    expect((await restore(repository, expected.snapshotId, old)).errors).toEqual([]);
    expect(differences(expected.entries, await walkTree(old))).toEqual([]);
  });
});

function isUtf8(bytes: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}
