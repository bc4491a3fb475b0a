import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, constants, mkdirSync, openSync } from 'node:fs';
import * as path from 'node:path';
import { EngineError, errnoCode } from '../errors';
import { displayName, FileName } from '../file-names';
import { nativeFs } from '../platform/native-fs';
import { AppliedMetadata, applyByName, applyToHandle, failureReason } from './apply-metadata';

/** A folder opened without following a symlink at its name; never a symlink, always a folder. */
const DIRECTORY_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
/** A restored file is first created under a new name of this form, then renamed into place. */
const TEMP_PREFIX = '.custodia-restore-';

/** File-type bits of mknod's mode. */
const S_IFIFO = 0o010000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;

interface OpenFolder {
  name: FileName;
  fd: number;
  /** Owner, mode, attributes and times given to the folder once everything inside it is written. */
  metadata: AppliedMetadata | null;
}

/** A metadata change a restore could not make, by path below the target. */
export interface MetadataProblem {
  path: string;
  message: string;
}

export interface OpenTargetOptions {
  /**
   * The restore root the target must lie in (the service's RESTORE_ROOTS). The walk from the
   * root down to the target opens one component at a time and refuses any symlink on the way.
   */
  within?: string;
  /** Allow a non-empty target. */
  overwrite: boolean;
}

/**
 * The restore target, held open, and every folder a restore writes into, opened from it one
 * name at a time without following symlinks. Writes are confined by construction: nothing is
 * ever resolved by path below the target, so a symlink planted or swapped into the tree while
 * the restore runs (by another restore, or by a local user) makes the restore stop with
 * UNSAFE_PATH instead of steering a write elsewhere.
 *
 * Entries must come in depth-first order, parents before children (as the restore plan lists
 * them): the open folders form a stack along the current path, so the number of open handles is
 * bounded by the tree's depth, and a folder's own mode and times are applied when the walk leaves
 * it, after all its children were written.
 */
export class ConfinedTarget {
  private readonly stack: OpenFolder[];
  /** Metadata that could not be applied; the entries themselves are restored. */
  readonly metadataProblems: MetadataProblem[] = [];

  private constructor(
    readonly path: string,
    rootFd: number,
  ) {
    this.stack = [{ name: '', fd: rootFd, metadata: null }];
  }

  static open(targetPath: string, options: OpenTargetOptions): ConfinedTarget {
    const target = path.resolve(targetPath);
    const fd = options.within === undefined ? openGivenFolder(target) : openBelowRoot(path.resolve(options.within), target);
    const confined = new ConfinedTarget(target, fd);
    try {
      if (!options.overwrite && nativeFs().readdirfd(fd).length > 0) {
        throw new EngineError('TARGET_NOT_EMPTY', `restore target ${target} is not empty; pass --overwrite to restore into it`);
      }
    } catch (error) {
      confined.close();
      throw error;
    }
    return confined;
  }

  /** The metadata the target folder itself gets when the restore ends (the snapshot root's). */
  setTargetMetadata(metadata: AppliedMetadata): void {
    this.stack[0].metadata = metadata;
  }

  /** Creates (or, when overwriting, reuses) the folder at `parts`; its metadata is applied later. */
  makeFolder(parts: FileName[], metadata: AppliedMetadata): void {
    const parent = this.folderAt(parts.slice(0, -1));
    const name = parts[parts.length - 1];
    this.stack.push({ name, fd: openChildFolder(parent, name, () => inTheWay(this.display(parts))), metadata });
  }

  /**
   * Writes a file at `parts`: created under a temporary name with O_EXCL|O_NOFOLLOW (never an
   * existing file or a planted symlink), filled by `write`, given its mode and times, then
   * renamed over the real name. On failure the temporary file is removed.
   */
  async writeFile(parts: FileName[], write: (fd: number) => Promise<void> | void, metadata: AppliedMetadata): Promise<void> {
    const folder = this.folderAt(parts.slice(0, -1));
    const temp = temporaryName();
    const native = nativeFs();
    try {
      const fd = native.openat(folder, temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        await write(fd);
        applyToHandle(fd, `/proc/self/fd/${folder}/${temp}`, metadata, this.failure(parts));
      } finally {
        closeSync(fd);
      }
      this.putInPlace(folder, temp, parts);
    } catch (error) {
      removeQuietly(folder, temp);
      throw error;
    }
  }

  /** Creates a symlink at `parts` (replacing what is there when overwriting), with its metadata. */
  symlink(parts: FileName[], linkTarget: FileName, metadata: AppliedMetadata): void {
    this.createNode(parts, metadata, true, (folder, temp) => nativeFs().symlinkat(linkTarget, folder, temp));
  }

  /**
   * Creates a FIFO or device node at `parts`. It is never opened (opening a device can act on
   * it), so its mode is set through its fresh temporary name in the open folder.
   */
  special(parts: FileName[], type: 'fifo' | 'chardev' | 'blockdev', rdev: number, metadata: AppliedMetadata): void {
    const bits = type === 'fifo' ? S_IFIFO : type === 'chardev' ? S_IFCHR : S_IFBLK;
    this.createNode(parts, metadata, false, (folder, temp) => nativeFs().mknodat(folder, temp, bits | 0o600, type === 'fifo' ? 0 : rdev));
  }

  /**
   * Makes `parts` another hard link to the file already restored at `existing`. The existing
   * file's folder is opened from the target down, one name at a time without following
   * symlinks, like every other folder; linkat itself does not follow a symlink at the name.
   */
  hardLink(parts: FileName[], existing: FileName[]): void {
    const folder = this.folderAt(parts.slice(0, -1));
    const source = this.openFromTarget(existing.slice(0, -1));
    const temp = temporaryName();
    try {
      nativeFs().linkat(source, existing[existing.length - 1], folder, temp);
      this.putInPlace(folder, temp, parts);
    } catch (error) {
      removeQuietly(folder, temp);
      throw error;
    } finally {
      if (source !== this.stack[0].fd) closeSync(source);
    }
  }

  private createNode(
    parts: FileName[],
    metadata: AppliedMetadata,
    isSymlink: boolean,
    create: (folder: number, temp: string) => void,
  ): void {
    const folder = this.folderAt(parts.slice(0, -1));
    const temp = temporaryName();
    try {
      create(folder, temp);
      const chmod = (mode: number) => chmodSync(`/proc/self/fd/${folder}/${temp}`, mode);
      applyByName(folder, temp, metadata, { isSymlink, chmod }, this.failure(parts));
      this.putInPlace(folder, temp, parts);
    } catch (error) {
      removeQuietly(folder, temp);
      throw error;
    }
  }

  /** A folder below the target, opened apart from the walk's stack (the caller closes it). */
  private openFromTarget(parts: FileName[]): number {
    let fd = this.stack[0].fd;
    for (let i = 0; i < parts.length; i++) {
      const next = nativeFs().openat(fd, parts[i], DIRECTORY_FLAGS, 0);
      if (fd !== this.stack[0].fd) closeSync(fd);
      fd = next;
    }
    return fd;
  }

  private failure(parts: FileName[]): (what: string, error: unknown) => void {
    return (what, error) =>
      this.metadataProblems.push({
        path: parts.map(displayName).join('/') || '.',
        message: `${what} not restored: ${failureReason(error)}`,
      });
  }

  /** Applies the metadata of every folder still open, deepest first, and closes all handles. */
  close(): void {
    while (this.stack.length > 0) this.finishFolder(this.stack.pop()!, this.stack.length);
  }

  /** The handle of the folder at `parts`, leaving (and finishing) folders the walk is done with. */
  private folderAt(parts: FileName[]): number {
    let common = 0;
    while (common + 1 < this.stack.length && common < parts.length && sameName(this.stack[common + 1].name, parts[common])) common++;
    while (this.stack.length - 1 > common) this.finishFolder(this.stack.pop()!, this.stack.length);
    // A folder the plan did not list (it lists every one on the way) is created plainly.
    for (let i = common; i < parts.length; i++) {
      const parent = this.stack[this.stack.length - 1].fd;
      this.stack.push({
        name: parts[i],
        fd: openChildFolder(parent, parts[i], () => inTheWay(this.display(parts.slice(0, i + 1)))),
        metadata: null,
      });
    }
    return this.stack[this.stack.length - 1].fd;
  }

  /** Applies a folder's metadata as the walk leaves it, and closes it. `depth` is its place on the stack. */
  private finishFolder(folder: OpenFolder, depth: number): void {
    try {
      if (folder.metadata !== null) {
        const parts = this.stack.slice(1, depth).map((open) => open.name);
        if (depth > 0) parts.push(folder.name);
        applyToHandle(folder.fd, `/proc/self/fd/${folder.fd}/.`, folder.metadata, this.failure(parts));
      }
    } finally {
      closeSync(folder.fd);
    }
  }

  private display(parts: FileName[]): string {
    return path.join(this.path, ...parts.map(displayName));
  }

  private putInPlace(folder: number, temp: string, parts: FileName[]): void {
    try {
      nativeFs().renameat(folder, temp, folder, parts[parts.length - 1]);
    } catch (error) {
      const code = errnoCode(error);
      if (code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST') {
        throw new EngineError('UNSAFE_PATH', `cannot restore ${parts.map(displayName).join('/')}: a directory is in the way`);
      }
      throw error;
    }
  }
}

/** The CLI's target: the folder the user named (created if missing), which must not be a symlink. */
function openGivenFolder(target: string): number {
  try {
    return openSync(target, DIRECTORY_FLAGS);
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOENT') {
      mkdirSync(target, { recursive: true, mode: 0o700 });
      return openGivenFolder(target);
    }
    if (code === 'ENOTDIR' || code === 'ELOOP') {
      throw new EngineError('TARGET_NOT_DIRECTORY', `restore target ${target} exists and is not a directory`);
    }
    throw error;
  }
}

/**
 * The service's target: inside a configured restore root. The root itself is the operator's
 * setting and is opened as configured (created if missing); below it, every component is
 * opened with O_NOFOLLOW, so no symlink anywhere between the root and the target is followed.
 */
function openBelowRoot(root: string, target: string): number {
  const relative = path.relative(root, target);
  if (relative === '' || relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative)) {
    throw new EngineError('UNSAFE_PATH', `restore target ${target} is not inside its restore root ${root}`);
  }
  mkdirSync(root, { recursive: true, mode: 0o700 });
  let fd = openSync(root, constants.O_RDONLY | constants.O_DIRECTORY);
  const parts = relative.split(path.sep);
  try {
    for (let i = 0; i < parts.length; i++) {
      const refuse =
        i === parts.length - 1
          ? () => new EngineError('TARGET_NOT_DIRECTORY', `restore target ${target} exists and is not a directory`)
          : () =>
              new EngineError(
                'UNSAFE_PATH',
                `refusing to restore through ${path.join(root, ...parts.slice(0, i + 1))}: a symlink or file lies on the way to the target`,
              );
      const next = openChildFolder(fd, parts[i], refuse);
      closeSync(fd);
      fd = next;
    }
    return fd;
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

function inTheWay(absolute: string): EngineError {
  return new EngineError('UNSAFE_PATH', `refusing to restore through ${absolute}: it is a symlink or a file, not a directory`);
}

/**
 * Opens (creating it if missing) folder `name` inside `parent`, refusing a symlink or a file
 * there. A folder that vanishes again and again as it is created, or whose parent was removed,
 * means another process is changing the target: TARGET_CHANGED, not a raw errno.
 */
function openChildFolder(parent: number, name: FileName, notAFolder: () => EngineError): number {
  const native = nativeFs();
  const changed = () =>
    new EngineError(
      'TARGET_CHANGED',
      `folder "${displayName(name)}" changed while the restore created it; is something else writing there?`,
    );
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      return native.openat(parent, name, DIRECTORY_FLAGS, 0);
    } catch (error) {
      const code = errnoCode(error);
      if (code === 'ELOOP' || code === 'ENOTDIR') throw notAFolder();
      if (code !== 'ENOENT') throw error;
    }
    try {
      native.mkdirat(parent, name, 0o700);
    } catch (error) {
      const code = errnoCode(error);
      if (code === 'ENOENT') throw changed();
      if (code !== 'EEXIST') throw error;
    }
  }
  throw changed();
}

function sameName(a: FileName, b: FileName): boolean {
  return typeof a === 'string' && typeof b === 'string' ? a === b : Buffer.from(a).equals(Buffer.from(b));
}

function temporaryName(): string {
  return `${TEMP_PREFIX}${randomBytes(6).toString('hex')}`;
}

function removeQuietly(folder: number, name: string): void {
  try {
    nativeFs().unlinkat(folder, name, 0);
  } catch {
    // Nothing was created under that name, or it is gone already.
  }
}
