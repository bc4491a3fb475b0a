import { createCipheriv, createHash } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import * as path from 'node:path';

export const MiB = 1024 * 1024;

/**
 * Deterministic pseudo-random bytes: the AES-256-CTR keystream under a key derived from `seed`.
 * Incompressible, fast, and the same on every run and platform.
 */
export function pseudoRandomBytes(seed: string, length: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(length)), cipher.final()]);
}

const WORDS = (
  'name address email phone birthday customer order invoice consent erasure request record subject ' +
  'controller processor purpose retention backup restore archive legal basis storage period access rectify ' +
  'portability object restrict profile marketing newsletter account payment delivery contract'
).split(' ');

/** Deterministic text made of a small vocabulary: compresses well. */
export function compressibleText(seed: string, length: number): Buffer {
  const random = pseudoRandomBytes(seed, Math.ceil(length / 4) + 16);
  const parts: string[] = [];
  let size = 0;
  for (let i = 0; size < length; i++) {
    const word = WORDS[random[i % random.length] % WORDS.length] + (i % 12 === 11 ? '\n' : ' ');
    parts.push(word);
    size += word.length;
  }
  return Buffer.from(parts.join('').slice(0, length));
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A declarative description of a folder's contents, written by writeTree. */
export type TreeSpec = { [name: string]: EntrySpec };
export type EntrySpec =
  | { type: 'file'; content: Buffer; mode?: number; mtime?: Date }
  | { type: 'dir'; children: TreeSpec; mode?: number; mtime?: Date }
  | { type: 'symlink'; target: string; mtime?: Date };

export const file = (content: Buffer | string, extra: { mode?: number; mtime?: Date } = {}): EntrySpec => ({
  type: 'file',
  content: typeof content === 'string' ? Buffer.from(content) : content,
  ...extra,
});
export const dir = (children: TreeSpec, extra: { mode?: number; mtime?: Date } = {}): EntrySpec => ({ type: 'dir', children, ...extra });
export const symlink = (target: string, extra: { mtime?: Date } = {}): EntrySpec => ({ type: 'symlink', target, ...extra });

/**
 * Writes `spec` under `root` (created if missing). Modes and times are applied after a folder's
 * children are written, because creating a child changes its folder's mtime.
 */
export async function writeTree(root: string, spec: TreeSpec): Promise<void> {
  await fs.mkdir(root, { recursive: true });
  for (const [name, entry] of Object.entries(spec)) {
    const target = path.join(root, name);
    if (entry.type === 'file') {
      await fs.writeFile(target, entry.content);
      if (entry.mode !== undefined) await fs.chmod(target, entry.mode);
      if (entry.mtime) await fs.utimes(target, entry.mtime, entry.mtime);
    } else if (entry.type === 'symlink') {
      await fs.symlink(entry.target, target);
      if (entry.mtime) await fs.lutimes(target, entry.mtime, entry.mtime);
    } else {
      await writeTree(target, entry.children);
      if (entry.mode !== undefined) await fs.chmod(target, entry.mode);
      if (entry.mtime) await fs.utimes(target, entry.mtime, entry.mtime);
    }
  }
}

/**
 * A tree with every kind of entry a backup must keep: empty, tiny, compressible and
 * incompressible files, one file bigger than the chunker's 8 MiB maximum (so it is split),
 * nested and empty folders, relative, absolute and dangling symlinks, unusual modes and mtimes.
 * `absoluteLinkTarget` is where the absolute symlink points (it need not exist).
 */
export function standardTree(options: { bigFileBytes?: number; absoluteLinkTarget: string }): TreeSpec {
  const old = new Date('2001-02-03T04:05:06.789Z');
  const older = new Date('1999-12-31T23:59:58.5Z');
  return {
    'empty.txt': file(Buffer.alloc(0)),
    'tiny.txt': file('x', { mtime: old }),
    'private.key': file(pseudoRandomBytes('private', 3000), { mode: 0o600 }),
    'run.sh': file('#!/bin/sh\necho hello\n', { mode: 0o755, mtime: older }),
    big: dir({
      'huge.bin': file(pseudoRandomBytes('huge', options.bigFileBytes ?? 11 * MiB)),
      'log.txt': file(compressibleText('log', 2 * MiB + 123), { mtime: old }),
    }),
    docs: dir(
      {
        'readme.md': file(compressibleText('readme', 5000)),
        nested: dir({
          'deep.txt': file('deep inside\n', { mode: 0o640 }),
          deeper: dir({ 'deepest.bin': file(pseudoRandomBytes('deepest', 70_000)) }, { mtime: old }),
        }),
        'link-to-readme': symlink('readme.md'),
        'link-up': symlink('../tiny.txt', { mtime: older }),
      },
      { mode: 0o750 },
    ),
    'empty-dir': dir({}, { mtime: older }),
    'locked-dir': dir({ 'inside.txt': file('in a 0700 folder') }, { mode: 0o700 }),
    'absolute-link': symlink(options.absoluteLinkTarget),
    'dangling-link': symlink('does/not/exist', { mtime: old }),
    'name with spaces & ünïcode.txt': file('unicode name\n'),
  };
}

/** What a user can observe about one entry. */
export interface EntryState {
  type: 'file' | 'dir' | 'symlink' | 'other';
  mode: number;
  mtimeNs: bigint;
  size?: number;
  sha256?: string;
  target?: string;
}

/** Every entry below `root` by relative path; `root` itself is not included. */
export async function describeTree(root: string): Promise<Map<string, EntryState>> {
  const found = new Map<string, EntryState>();
  const visit = async (dirPath: string, prefix: string): Promise<void> => {
    for (const name of (await fs.readdir(dirPath)).sort()) {
      const absolute = path.join(dirPath, name);
      const relative = prefix ? `${prefix}/${name}` : name;
      const stats = await fs.lstat(absolute, { bigint: true });
      const base = { mode: Number(stats.mode & 0o7777n), mtimeNs: stats.mtimeNs };
      if (stats.isSymbolicLink()) {
        found.set(relative, { ...base, type: 'symlink', target: await fs.readlink(absolute) });
      } else if (stats.isDirectory()) {
        found.set(relative, { ...base, type: 'dir' });
        await visit(absolute, relative);
      } else if (stats.isFile()) {
        found.set(relative, { ...base, type: 'file', size: Number(stats.size), sha256: sha256(await readWithoutAtime(absolute)) });
      } else {
        found.set(relative, { ...base, type: 'other' });
      }
    }
  };
  await visit(root, '');
  return found;
}

/**
 * Differences between two trees as readable lines (empty when they match): entries missing or
 * extra, type, content, mode (not for symlinks, whose mode Linux ignores), symlink target, and
 * mtime to the millisecond.
 */
export function compareTrees(expected: Map<string, EntryState>, actual: Map<string, EntryState>): string[] {
  const differences: string[] = [];
  for (const [name, want] of expected) {
    const got = actual.get(name);
    if (!got) {
      differences.push(`${name}: missing`);
      continue;
    }
    if (got.type !== want.type) {
      differences.push(`${name}: type ${got.type}, expected ${want.type}`);
      continue;
    }
    if (want.type === 'file' && (got.size !== want.size || got.sha256 !== want.sha256)) {
      differences.push(`${name}: content differs (${got.size} bytes, expected ${want.size})`);
    }
    if (want.type !== 'symlink' && got.mode !== want.mode) {
      differences.push(`${name}: mode ${got.mode.toString(8)}, expected ${want.mode.toString(8)}`);
    }
    if (want.type === 'symlink' && got.target !== want.target) {
      differences.push(`${name}: symlink to ${got.target}, expected ${want.target}`);
    }
    const drift = got.mtimeNs - want.mtimeNs;
    if (drift >= 1_000_000n || drift <= -1_000_000n) {
      differences.push(`${name}: mtime ${got.mtimeNs} ns, expected ${want.mtimeNs} ns`);
    }
  }
  for (const name of actual.keys()) if (!expected.has(name)) differences.push(`${name}: unexpected`);
  return differences;
}

/**
 * A file's content, read without changing its access time where Linux allows it (root, or the
 * file's owner): backups keep atimes, so a comparison must not make the next backup differ.
 */
export async function readWithoutAtime(file: string): Promise<Buffer> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, constants.O_RDONLY | (constants.O_NOATIME ?? 0));
  } catch {
    handle = await fs.open(file, constants.O_RDONLY);
  }
  try {
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}
