import { existsSync } from 'node:fs';
import * as path from 'node:path';

/**
 * The directory-relative, symlink-safe file calls of the addon in native/ (see its source for
 * why each exists). Names are strings or Buffers (file names are bytes); errors carry `code`,
 * `errno` and `syscall` as Node's own do.
 */
export interface NativeFs {
  openat(dirfd: number, name: string | Buffer, flags: number, mode: number): number;
  mkdirat(dirfd: number, name: string | Buffer, mode: number): void;
  symlinkat(target: string | Buffer, dirfd: number, name: string | Buffer): void;
  renameat(olddirfd: number, oldname: string | Buffer, newdirfd: number, newname: string | Buffer): void;
  linkat(olddirfd: number, oldname: string | Buffer, newdirfd: number, newname: string | Buffer): void;
  unlinkat(dirfd: number, name: string | Buffer, removeDirectory: 0 | 1): void;
  /** fchownat with AT_SYMLINK_NOFOLLOW: a symlink at `name` is changed itself. */
  lchownat(dirfd: number, name: string | Buffer, uid: number, gid: number): void;
  /** utimensat with AT_SYMLINK_NOFOLLOW, in nanoseconds since the epoch. */
  lutimesat(dirfd: number, name: string | Buffer, atimeNs: bigint, mtimeNs: bigint): void;
  futimens(fd: number, atimeNs: bigint, mtimeNs: bigint): void;
  /** A FIFO or device node; `rdev` as fs.Stats reports it. */
  mknodat(dirfd: number, name: string | Buffer, mode: number, rdev: number): void;
  /** lseek with SEEK_DATA (3) or SEEK_HOLE (4); -1 when no data follows. */
  seekDataOrHole(fd: number, offset: number, whence: 3 | 4): number;
  readdirfd(dirfd: number): Buffer[];
  /** flistxattr + fgetxattr: every extended attribute of an open file or folder, with its value. */
  fdxattrs(fd: number): [string, Buffer][];
  /** Owner names through NSS (getpwuid_r and friends); null when unknown. */
  userName(uid: number): string | null;
  groupName(gid: number): string | null;
  userId(name: string): number | null;
  groupId(name: string): number | null;
}

export const SEEK_DATA = 3;
export const SEEK_HOLE = 4;

let loaded: NativeFs | null = null;

/**
 * The folder holding package.json above `start`: the addon is built there, whether this module
 * runs from src/ (tests), dist/ (the service) or dist-bench/src/ (benchmarks).
 */
function packageRoot(start: string): string {
  for (let dir = start; path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
  }
  return path.join(start, '..', '..', '..');
}

/** The addon, loaded on first use; built by `npm ci` (scripts/build-native.js). */
export function nativeFs(): NativeFs {
  if (loaded === null) {
    const file = path.join(packageRoot(__dirname), 'build', 'Release', 'custodia_fs.node');
    try {
      const addon = { exports: {} };
      process.dlopen(addon, file);
      loaded = addon.exports as NativeFs;
    } catch (error) {
      throw new Error(`the native file-system addon is missing (${file}): run \`npm ci\` or \`npm run build:native\` (${String(error)})`);
    }
  }
  return loaded;
}
