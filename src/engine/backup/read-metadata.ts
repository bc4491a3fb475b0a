import { getAttributeSync, listAttributesSync } from '@napi-rs/xattr';
import { BigIntStats, closeSync, constants, openSync } from 'node:fs';
import * as path from 'node:path';
import { errnoCode } from '../errors';
import { decodeUtf8, FileName } from '../file-names';
import { EntryMetadata, ExtendedAttribute } from '../repository/format';
import { nativeFs } from '../platform/native-fs';

/** Errors the xattr calls report as "no extended attributes here", not as a problem. */
const NO_XATTRS = new Set([
  61, // ENODATA: the attribute vanished between list and get
  95, // ENOTSUP: the file system has none (e.g. some FUSE, tmpfs without user xattrs)
]);

export interface ReadMetadata {
  metadata: Omit<EntryMetadata, 'name' | 'rawName'>;
  /** Set when some metadata could not be read: the entry is stored without it. */
  problem?: string;
}

/**
 * Reads what a tree entry keeps besides its content: mode, times in nanoseconds, owner by
 * number and name, and every extended attribute (user, trusted, security, and POSIX ACLs,
 * which Linux exposes as `system.posix_acl_*` attributes). Owner names are looked up once per
 * id per backup.
 */
export class MetadataReader {
  private readonly users = new Map<number, string | null>();
  private readonly groups = new Map<number, string | null>();

  read(absolutePath: FileName, stats: BigIntStats): ReadMetadata {
    const uid = Number(stats.uid);
    const gid = Number(stats.gid);
    const user = this.userName(uid);
    const group = this.groupName(gid);
    const { xattrs, problem } = readXattrs(absolutePath, stats);
    return {
      metadata: {
        mode: Number(stats.mode & 0o7777n),
        mtimeNs: stats.mtimeNs.toString(),
        // Not a folder's: listing a folder (the backup's own listing too) changes its atime, so
        // keeping it would make every backup of an unchanged tree a new tree.
        ...(stats.isDirectory() ? {} : { atimeNs: stats.atimeNs.toString() }),
        uid,
        gid,
        ...(user !== null ? { user } : {}),
        ...(group !== null ? { group } : {}),
        ...(xattrs.length > 0 ? { xattrs } : {}),
      },
      ...(problem !== undefined ? { problem } : {}),
    };
  }

  private userName(uid: number): string | null {
    if (!this.users.has(uid)) this.users.set(uid, nativeFs().userName(uid));
    return this.users.get(uid) ?? null;
  }

  private groupName(gid: number): string | null {
    if (!this.groups.has(gid)) this.groups.set(gid, nativeFs().groupName(gid));
    return this.groups.get(gid) ?? null;
  }
}

/**
 * The entry's extended attributes, never following a symlink (the binding's calls are the
 * l*xattr ones). The binding takes paths as strings, so a path with bytes that are not UTF-8 is
 * reached through its parent folder's handle (/proc/self/fd/N/name). An entry whose own name is
 * not UTF-8 is opened and read by handle; that cannot be done without side effects for a
 * device or at all for a symlink, and is then reported, never silently dropped.
 */
function readXattrs(absolutePath: FileName, stats: BigIntStats): { xattrs: ExtendedAttribute[]; problem?: string } {
  if (typeof absolutePath === 'string') return readXattrsAt(absolutePath);
  const bytes = Buffer.from(absolutePath);
  const slash = bytes.lastIndexOf(0x2f);
  const name = decodeUtf8(bytes.subarray(slash + 1));
  if (name === null) return readXattrsByHandle(bytes, stats);
  let parent: number;
  try {
    parent = openSync(slash <= 0 ? '/' : bytes.subarray(0, slash), constants.O_RDONLY | constants.O_DIRECTORY);
  } catch (error) {
    return { xattrs: [], problem: `extended attributes not read: ${message(error)}` };
  }
  try {
    return readXattrsAt(path.join('/proc/self/fd', String(parent), name));
  } finally {
    closeSync(parent);
  }
}

function readXattrsByHandle(file: Buffer, stats: BigIntStats): { xattrs: ExtendedAttribute[]; problem?: string } {
  if (!stats.isFile() && !stats.isDirectory() && !stats.isFIFO()) {
    return { xattrs: [], problem: 'extended attributes not read: the name is not valid UTF-8 and the entry cannot be opened safely' };
  }
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO opens at once instead of waiting for a writer.
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    return { xattrs: [], problem: `extended attributes not read: ${message(error)}` };
  }
  try {
    const xattrs = nativeFs()
      .fdxattrs(fd)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, value]) => ({ name, value: value.toString('base64') }));
    return { xattrs };
  } catch (error) {
    return errnoCode(error) === 'ENOTSUP' ? { xattrs: [] } : { xattrs: [], problem: `extended attributes not read: ${message(error)}` };
  } finally {
    closeSync(fd);
  }
}

function readXattrsAt(file: string): { xattrs: ExtendedAttribute[]; problem?: string } {
  let names: string[];
  try {
    names = listAttributesSync(file);
  } catch (error) {
    return NO_XATTRS.has(osError(error)) ? { xattrs: [] } : { xattrs: [], problem: `extended attributes not read: ${message(error)}` };
  }
  const xattrs: ExtendedAttribute[] = [];
  for (const name of names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
    try {
      const value = getAttributeSync(file, name);
      if (value !== null) xattrs.push({ name, value: value.toString('base64') });
    } catch (error) {
      if (NO_XATTRS.has(osError(error))) continue;
      return { xattrs, problem: `extended attribute ${name} not read: ${message(error)}` };
    }
  }
  return { xattrs };
}

/** The binding's errors say "… (os error N)"; N is the errno. */
export function osError(error: unknown): number {
  const match = /os error (\d+)/.exec(message(error));
  return match ? Number(match[1]) : -1;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
