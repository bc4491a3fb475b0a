import { EngineError } from '../errors';
import { ENTRY_TYPES, TreeEntry } from '../repository/format';

const DECIMAL = /^-?\d{1,20}$/;
const UNSIGNED = /^\d{1,20}$/;
const XATTR_NAME = /^(user|trusted|security|system)\.[^\0]{1,250}$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const MAX_ID = 2 ** 32 - 1;

/**
 * Refuses an entry a restore could not apply faithfully or safely: an unknown type, a mode
 * outside 07777, times or ids that are not numbers, extended attributes outside the known
 * namespaces, holes that overlap or lie beyond the file. A backup never writes such an entry;
 * a damaged or crafted tree can hold one, and check and verify must then not call the snapshot
 * healthy, so this is part of the restore plan they run.
 */
export function assertWellFormedEntry(entry: TreeEntry, where: string): void {
  const refuse = (why: string) => {
    throw new EngineError('UNSAFE_PATH', `snapshot manifest holds a malformed entry "${where}": ${why}; refusing to restore`);
  };
  const value = entry as unknown as Record<string, unknown>;
  if (!ENTRY_TYPES.includes(entry.type)) refuse(`unknown type ${JSON.stringify(value.type)}`);
  if (!Number.isInteger(entry.mode) || entry.mode < 0 || entry.mode > 0o7777) refuse('mode is not a permission mode');
  if (typeof entry.mtimeNs !== 'string' || !DECIMAL.test(entry.mtimeNs)) refuse('mtime is not a number of nanoseconds');
  if (entry.atimeNs !== undefined && (typeof entry.atimeNs !== 'string' || !DECIMAL.test(entry.atimeNs)))
    refuse('atime is not a number of nanoseconds');
  for (const id of [entry.uid, entry.gid]) {
    if (id !== undefined && (!Number.isInteger(id) || id < 0 || id > MAX_ID)) refuse('owner is not a user or group id');
  }
  for (const name of [entry.user, entry.group]) {
    if (name !== undefined && (typeof name !== 'string' || name.length === 0 || name.includes('\0'))) refuse('owner name is malformed');
  }
  if (entry.xattrs !== undefined) {
    if (!Array.isArray(entry.xattrs)) refuse('extended attributes are not a list');
    const names = new Set<string>();
    for (const xattr of entry.xattrs) {
      if (typeof xattr?.name !== 'string' || !XATTR_NAME.test(xattr.name)) refuse('an extended attribute has no valid name');
      if (typeof xattr.value !== 'string' || !BASE64.test(xattr.value)) refuse(`extended attribute ${xattr.name} has no valid value`);
      if (names.has(xattr.name)) refuse(`extended attribute ${xattr.name} is listed twice`);
      names.add(xattr.name);
    }
  }
  switch (entry.type) {
    case 'file': {
      if (!Number.isSafeInteger(entry.size) || entry.size < 0) refuse('size is not a length');
      if (!Array.isArray(entry.content) || entry.content.some((id) => typeof id !== 'string')) refuse('content is not a list of blob ids');
      if (entry.links !== undefined && (!Number.isSafeInteger(entry.links) || entry.links < 1)) refuse('link count is malformed');
      if (entry.device !== undefined && (typeof entry.device !== 'string' || !UNSIGNED.test(entry.device))) refuse('device is malformed');
      if (entry.holes !== undefined) assertHoles(entry.holes, entry.size, refuse);
      break;
    }
    case 'dir':
      if (typeof entry.subtree !== 'string') refuse('a folder without a subtree');
      break;
    case 'symlink':
      if (typeof entry.target !== 'string') refuse('a symlink without a target');
      break;
    case 'chardev':
    case 'blockdev':
      if (typeof entry.rdev !== 'string' || !UNSIGNED.test(entry.rdev) || !Number.isSafeInteger(Number(entry.rdev)))
        refuse('device number is malformed');
      break;
    case 'fifo':
      break;
  }
}

function assertHoles(holes: unknown, size: number, refuse: (why: string) => void): void {
  if (!Array.isArray(holes)) return refuse('holes are not a list');
  let end = 0;
  for (const hole of holes) {
    const [start, length] = Array.isArray(hole) ? (hole as unknown[]) : [];
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(length) || (length as number) <= 0) return refuse('a hole is malformed');
    if ((start as number) < end || (start as number) + (length as number) > size) return refuse('holes overlap or lie beyond the file');
    end = (start as number) + (length as number);
  }
}

/** The bytes of a file's stored content: its size without its holes. */
export function dataLength(entry: { size: number; holes?: [number, number][] }): number {
  return entry.size - (entry.holes ?? []).reduce((sum, [, length]) => sum + length, 0);
}
