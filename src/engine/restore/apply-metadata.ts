import { setAttributeSync } from '@napi-rs/xattr';
import { fchmodSync, fchownSync } from 'node:fs';
import { osError } from '../backup/read-metadata';
import { nativeFs } from '../platform/native-fs';

/** What a restore gives an entry besides its content, resolved for this machine. */
export interface AppliedMetadata {
  mode: number;
  mtimeNs: bigint;
  atimeNs: bigint;
  /** Null when owners are not restored (not root): the entry keeps the restoring user's. */
  owner: { uid: number; gid: number } | null;
  xattrs: { name: string; value: Buffer }[];
}

/** A metadata change that failed: the entry is restored, this part of it is not. */
export type MetadataFailure = (what: string, error: unknown) => void;

/**
 * Applies owner, mode, extended attributes and times to an open file or folder, in the order
 * the kernel needs: chown first (it clears setuid, setgid and capabilities), then the mode,
 * then the attributes (capabilities and ACLs, which also set the group bits from the ACL mask),
 * times last (every change before touches ctime only, but a write would touch mtime).
 * `xattrPath` names the same inode for the xattr binding, which takes paths only.
 */
export function applyToHandle(fd: number, xattrPath: string, metadata: AppliedMetadata, failed: MetadataFailure): void {
  if (metadata.owner !== null) attempt(() => fchownSync(fd, metadata.owner!.uid, metadata.owner!.gid), 'owner', failed);
  attempt(() => fchmodSync(fd, metadata.mode), 'mode', failed);
  applyXattrs(xattrPath, metadata.xattrs, failed);
  attempt(() => nativeFs().futimens(fd, metadata.atimeNs, metadata.mtimeNs), 'times', failed);
}

/**
 * The same for an entry that cannot be opened without side effects (a symlink, a FIFO, a
 * device node), by name in an open folder; `chmod` is skipped for symlinks (Linux has none).
 */
export function applyByName(
  folder: number,
  name: string,
  metadata: AppliedMetadata,
  options: { isSymlink: boolean; chmod: (mode: number) => void },
  failed: MetadataFailure,
): void {
  const native = nativeFs();
  if (metadata.owner !== null) attempt(() => native.lchownat(folder, name, metadata.owner!.uid, metadata.owner!.gid), 'owner', failed);
  if (!options.isSymlink) attempt(() => options.chmod(metadata.mode), 'mode', failed);
  applyXattrs(`/proc/self/fd/${folder}/${name}`, metadata.xattrs, failed);
  attempt(() => native.lutimesat(folder, name, metadata.atimeNs, metadata.mtimeNs), 'times', failed);
}

function applyXattrs(xattrPath: string, xattrs: AppliedMetadata['xattrs'], failed: MetadataFailure): void {
  for (const { name, value } of xattrs) attempt(() => setAttributeSync(xattrPath, name, value), `extended attribute ${name}`, failed);
}

function attempt(change: () => void, what: string, failed: MetadataFailure): void {
  try {
    change();
  } catch (error) {
    failed(what, error);
  }
}

/** A short reason for a failed metadata change, errno first when the binding only gives a number. */
export function failureReason(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('E')) return code;
  const errno = osError(error);
  if (errno === 1) return 'EPERM';
  if (errno === 95) return 'ENOTSUP';
  if (errno === 22) return 'EINVAL';
  return error instanceof Error ? error.message : String(error);
}
