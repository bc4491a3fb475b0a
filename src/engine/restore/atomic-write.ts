import { randomBytes } from 'node:crypto';
import { closeSync, constants, fchmodSync, futimesSync, lstatSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { EngineError } from '../errors';

/** Files up to this size are gathered in memory and written in one synchronous go. */
export const SMALL_FILE_BYTES = 4 * 1024 * 1024;

/**
 * Writes a small restored file: under a new temporary name (O_EXCL|O_NOFOLLOW, so never an
 * existing file or a planted symlink), with its mode and mtime, then renamed over `absolute`.
 * Synchronous on purpose: for the many small files of a typical tree, the half-dozen thread-pool
 * round trips of the asynchronous calls cost more than the writing itself. A failure removes the
 * temporary file; the real name never holds a half-written file.
 */
export function writeSmallFile(absolute: string, blobs: Buffer[], mode: number, mtimeSeconds: number, tempPrefix: string): void {
  const existing = lstatOrNull(absolute);
  if (existing?.isDirectory()) throw new EngineError('UNSAFE_PATH', `cannot restore ${absolute}: a directory is in the way`);
  const temp = path.join(path.dirname(absolute), `${tempPrefix}${randomBytes(6).toString('hex')}`);
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

function lstatOrNull(file: string) {
  try {
    return lstatSync(file);
  } catch {
    return null;
  }
}
