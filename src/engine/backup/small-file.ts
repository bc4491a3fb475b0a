import { BigIntStats, closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { FileHandle, open } from 'node:fs/promises';
import { errnoCode } from '../errors';
import { FileName } from '../file-names';

/**
 * O_NOFOLLOW: a file swapped for a symlink since the scan is not read through. O_NOATIME: the
 * backup does not change the access times it stores (Linux allows it to the file's owner and to
 * root; for anyone else the open is retried without it).
 */
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW;
const NOATIME = constants.O_NOATIME ?? 0;

function openSyncForReading(file: FileName): number {
  if (NOATIME !== 0) {
    try {
      return openSync(file, READ_FLAGS | NOATIME);
    } catch (error) {
      if (errnoCode(error) !== 'EPERM') throw error;
    }
  }
  return openSync(file, READ_FLAGS);
}

/** Opens a file for the backup to read, as readSmallFile does. */
export async function openForReading(file: FileName): Promise<FileHandle> {
  if (NOATIME !== 0) {
    try {
      return await open(file, READ_FLAGS | NOATIME);
    } catch (error) {
      if (errnoCode(error) !== 'EPERM') throw error;
    }
  }
  return open(file, READ_FLAGS);
}

/**
 * Reads a small file (the scan found it `expectedSize` bytes, at most the chunker's minimum, so
 * it is one chunk) in one go and synchronously: for the many small files of a typical tree, the
 * four thread-pool round trips of an asynchronous open, read, read and close cost more than the
 * reading itself, and left the backup's thread idle a third of the time.
 *
 * Returns a copy of the content and the file's stats once read (to tell whether it changed
 * meanwhile), or null when the file is now larger than the scan found (the caller then streams
 * it as any other file). Errors are the caller's, as for the streaming read.
 */
export function readSmallFile(file: FileName, buffer: Buffer, expectedSize: number): { data: Buffer; after: BigIntStats } | null {
  const limit = expectedSize + 1;
  if (limit > buffer.length) throw new RangeError('the work buffer is too small for this file');
  const fd = openSyncForReading(file);
  try {
    let length = 0;
    for (;;) {
      const n = readSync(fd, buffer, length, limit - length, null);
      if (n === 0) return { data: Buffer.from(buffer.subarray(0, length)), after: fstatSync(fd, { bigint: true }) };
      length += n;
      if (length === limit) return null;
    }
  } finally {
    closeSync(fd);
  }
}
