import { createHash } from 'node:crypto';
import { BigIntStats, closeSync, constants as fsConstants, promises as fs, readSync } from 'node:fs';
import { getAttributeSync, listAttributesSync } from '@napi-rs/xattr';
import { nativeFs, SEEK_DATA, SEEK_HOLE } from '../../../src/engine/platform/native-fs';
import { majorMinor } from './tree-builder';

/**
 * A byte-level walker: what a tree holds, entry by entry, read with lstat (bigint, so times
 * keep their nanoseconds), folders listed as bytes, extended attributes and content read
 * without following symlinks. Files are read with O_NOATIME, and folders' and symlinks' atimes
 * set back after they are read, so that walking a tree does not change what the next walk (or
 * a backup) sees.
 */

export type WalkType = 'file' | 'dir' | 'symlink' | 'fifo' | 'chardev' | 'blockdev' | 'socket';

export interface WalkRecord {
  /** The path below the walked root as hex of its exact bytes; '' for the root itself. */
  path: string;
  /** The same for people: UTF-8 as it is, every other byte as \xNN. */
  display: string;
  type: WalkType;
  /** st_mode & 07777. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** 512-byte blocks allocated. */
  blocks: number;
  nlink: number;
  /**
   * When nlink > 1: every path of the walk on the same device and inode, sorted (displayed):
   * the hard-link group this entry belongs to.
   */
  linkGroup?: string[];
  /**
   * Extended attribute name -> base64 value. null when the path is not UTF-8: the xattr
   * library takes only string paths, so those entries' attributes cannot be read here.
   */
  xattrs: Record<string, string> | null;
  /** major:minor, for devices. */
  rdev?: string;
  mtimeNs: string;
  atimeNs: string;
  /** sha256 (hex) of a regular file's content, holes read as the zeros they are. */
  sha256?: string;
  /** Whether the file has a hole (SEEK_HOLE finds one before its end). */
  sparse?: boolean;
  /** A symlink's target, hex of its bytes. */
  target?: string;
}

export type Walk = Map<string, WalkRecord>;

const O_NOATIME = 0o1000000;
const AT_FDCWD = -100;
const ZEROS = Buffer.alloc(8 * 1024 * 1024);
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 as it is, other bytes (and control characters) as \xNN. */
export function displayBytes(bytes: Buffer): string {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    return [...bytes].map((byte) => (byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : hexEscape(byte))).join('');
  }
  return [...text].map((c) => (c.charCodeAt(0) < 0x20 || c === '\x7f' ? hexEscape(c.charCodeAt(0)) : c)).join('');
}

const hexEscape = (byte: number) => `\\x${byte.toString(16).padStart(2, '0')}`;

function typeOf(stats: BigIntStats): WalkType {
  if (stats.isFile()) return 'file';
  if (stats.isDirectory()) return 'dir';
  if (stats.isSymbolicLink()) return 'symlink';
  if (stats.isFIFO()) return 'fifo';
  if (stats.isCharacterDevice()) return 'chardev';
  if (stats.isBlockDevice()) return 'blockdev';
  return 'socket';
}

/** Whether `bytes` decode as UTF-8 (the xattr library takes string paths only). */
function utf8OrNull(bytes: Buffer): string | null {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return null;
  }
}

function readXattrs(absolute: Buffer): Record<string, string> | null {
  const file = utf8OrNull(absolute);
  if (file === null) return null;
  const out: Record<string, string> = {};
  for (const name of listAttributesSync(file).sort()) {
    const value = getAttributeSync(file, name);
    out[name] = value === null ? '(vanished)' : value.toString('base64');
  }
  return out;
}

/** Opens for reading without updating the atime when Linux allows it (owner or root), else plainly. */
function openNoAtime(absolute: Buffer, extraFlags = 0): number {
  const flags = fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | extraFlags;
  try {
    return nativeFs().openat(AT_FDCWD, absolute, flags | O_NOATIME, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') throw error;
    return nativeFs().openat(AT_FDCWD, absolute, flags, 0);
  }
}

/**
 * sha256 of a regular file's content, reading only its data regions (SEEK_DATA/SEEK_HOLE) and
 * hashing holes as zeros: a 2 GiB sparse file costs its data plus hashing, not a 2 GiB read.
 */
function hashContent(absolute: Buffer, size: number): { sha256: string; sparse: boolean } {
  const native = nativeFs();
  const hash = createHash('sha256');
  const fd = openNoAtime(absolute);
  let sparse = false;
  const zeros = (length: number) => {
    for (let left = length; left > 0; left -= ZEROS.length) hash.update(ZEROS.subarray(0, Math.min(left, ZEROS.length)));
  };
  try {
    const buffer = Buffer.alloc(ZEROS.length);
    let position = 0;
    while (position < size) {
      let dataStart = native.seekDataOrHole(fd, position, SEEK_DATA);
      if (dataStart < 0 || dataStart > size) dataStart = size;
      if (dataStart > position) {
        sparse = true;
        zeros(dataStart - position);
        position = dataStart;
      }
      if (position >= size) break;
      let dataEnd = native.seekDataOrHole(fd, position, SEEK_HOLE);
      if (dataEnd < 0 || dataEnd > size) dataEnd = size;
      if (dataEnd < size) sparse = true;
      while (position < dataEnd) {
        const read = readSync(fd, buffer, 0, Math.min(buffer.length, dataEnd - position), position);
        if (read === 0) throw new Error(`${displayBytes(absolute)} ended at ${position} of ${size} bytes while being hashed`);
        hash.update(buffer.subarray(0, read));
        position += read;
      }
    }
  } finally {
    closeSync(fd);
  }
  return { sha256: hash.digest('hex'), sparse };
}

/**
 * Reading a folder (getdents through the addon, which opens it again without O_NOATIME) or a
 * symlink's target (readlink: no flag avoids it) sets its atime; this sets it back to what
 * lstat saw, with the mtime, so that the walk leaves the tree as it found it (but for ctime).
 */
function putTimesBack(absolute: Buffer, stats: BigIntStats): void {
  try {
    nativeFs().lutimesat(AT_FDCWD, absolute, stats.atimeNs, stats.mtimeNs);
  } catch (error) {
    // Not the owner (and not root): the atime stays as the read left it.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') throw error;
  }
}

function listFolder(absolute: Buffer): Buffer[] {
  const fd = openNoAtime(absolute, fsConstants.O_DIRECTORY);
  try {
    return nativeFs()
      .readdirfd(fd)
      .filter((name) => !name.equals(Buffer.from('.')) && !name.equals(Buffer.from('..')))
      .sort(Buffer.compare);
  } finally {
    closeSync(fd);
  }
}

/**
 * Every entry below `root`, and `root` itself (under path ''), by hex path. Content of regular
 * files is hashed in full (holes as zeros); FIFOs, devices and sockets are never opened.
 */
export async function walkTree(root: string): Promise<Walk> {
  const walk: Walk = new Map();
  const inodes = new Map<string, string[]>();
  const inodeOf = new Map<WalkRecord, string>();
  const visit = async (absolute: Buffer, relative: Buffer): Promise<void> => {
    const stats = await fs.lstat(absolute, { bigint: true });
    const type = typeOf(stats);
    const record: WalkRecord = {
      path: relative.toString('hex'),
      display: relative.length === 0 ? '(root)' : displayBytes(relative),
      type,
      mode: Number(stats.mode & 0o7777n),
      uid: Number(stats.uid),
      gid: Number(stats.gid),
      size: Number(stats.size),
      blocks: Number(stats.blocks),
      nlink: Number(stats.nlink),
      xattrs: readXattrs(absolute),
      mtimeNs: stats.mtimeNs.toString(),
      atimeNs: stats.atimeNs.toString(),
    };
    if (type === 'chardev' || type === 'blockdev') record.rdev = majorMinor(stats.rdev);
    if (type === 'symlink') {
      record.target = (await fs.readlink(absolute, { encoding: 'buffer' })).toString('hex');
      putTimesBack(absolute, stats);
    }
    if (type === 'file') Object.assign(record, hashContent(absolute, record.size));
    if (type !== 'dir' && record.nlink > 1) {
      const key = `${stats.dev}:${stats.ino}`;
      inodes.set(key, [...(inodes.get(key) ?? []), record.display]);
      inodeOf.set(record, key);
    }
    walk.set(record.path, record);
    if (type === 'dir') {
      const names = listFolder(absolute);
      putTimesBack(absolute, stats);
      for (const name of names) {
        await visit(
          Buffer.concat([absolute, Buffer.from('/'), name]),
          relative.length ? Buffer.concat([relative, Buffer.from('/'), name]) : name,
        );
      }
    }
  };
  await visit(Buffer.from(root), Buffer.alloc(0));
  // A group is known once the walk has seen all its members.
  for (const [record, key] of inodeOf) record.linkGroup = [...(inodes.get(key) ?? [])].sort();
  return walk;
}

/** The walk without the given paths (hex, as WalkRecord.path) or their descendants. */
export function withoutPaths(walk: Walk, paths: string[]): Walk {
  const sep = Buffer.from('/').toString('hex');
  return new Map([...walk].filter(([key]) => !paths.some((p) => key === p || key.startsWith(p + sep))));
}
