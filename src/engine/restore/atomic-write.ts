import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fchmodSync,
  futimesSync,
  lstatSync,
  openSync,
  promises as fs,
  renameSync,
  rmSync,
  Stats,
  writeSync,
} from 'node:fs';
import * as path from 'node:path';
import { EngineError } from '../errors';

/**
 * How a restore puts an entry in place: created under a new temporary name in the same folder,
 * then renamed over the real one, so a damaged blob or a crash never leaves a half-written file
 * under the real name; a failure removes the temporary entry.
 */
const TEMP_PREFIX = '.custodia-restore-';

/** Files up to this size are gathered in memory and written in one synchronous go. */
export const SMALL_FILE_BYTES = 4 * 1024 * 1024;

/** The temporary sibling of `absolute`, after refusing a directory that stands at that name. */
function temporarySibling(absolute: string, existing: Stats | null): string {
  if (existing?.isDirectory()) throw new EngineError('UNSAFE_PATH', `cannot restore ${absolute}: a directory is in the way`);
  return path.join(path.dirname(absolute), `${TEMP_PREFIX}${randomBytes(6).toString('hex')}`);
}

export async function replaceAtomically(absolute: string, create: (temp: string) => Promise<void>): Promise<void> {
  const temp = temporarySibling(absolute, await fs.lstat(absolute).catch(() => null));
  try {
    await create(temp);
    await fs.rename(temp, absolute);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
}

/**
 * Writes a small restored file in place (O_EXCL|O_NOFOLLOW: never an existing file or a planted
 * symlink), with its mode and mtime. Synchronous on purpose: for the many small files of a
 * typical tree, the half-dozen thread-pool round trips of the asynchronous calls cost more than
 * the writing itself.
 */
export function writeSmallFile(absolute: string, blobs: Buffer[], mode: number, mtimeSeconds: number): void {
  const temp = temporarySibling(absolute, lstatOrNull(absolute));
  try {
    const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      for (const blob of blobs) {
        let written = 0;
        while (written < blob.length) written += writeSync(fd, blob, written, blob.length - written);
      }
      fchmodSync(fd, mode);
      futimesSync(fd, mtimeSeconds, mtimeSeconds);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, absolute);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

function lstatOrNull(file: string): Stats | null {
  try {
    return lstatSync(file);
  } catch {
    return null;
  }
}
