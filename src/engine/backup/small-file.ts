import { closeSync, constants, openSync, readSync } from 'node:fs';
import { FileName } from '../file-names';

/**
 * Reads a small file (the scan found it `expectedSize` bytes, at most the chunker's minimum, so
 * it is one chunk) in one go and synchronously: for the many small files of a typical tree, the
 * four thread-pool round trips of an asynchronous open, read, read and close cost more than the
 * reading itself, and left the backup's thread idle a third of the time.
 *
 * Returns a copy of the content, or null when the file is now larger than the scan found (the
 * caller then streams it as any other file). O_NOFOLLOW: a file swapped for a symlink since the
 * scan is not read through. Errors are the caller's, as for the streaming read.
 */
export function readSmallFile(file: FileName, buffer: Buffer, expectedSize: number): Buffer | null {
  const limit = expectedSize + 1;
  if (limit > buffer.length) throw new RangeError('the work buffer is too small for this file');
  const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    let length = 0;
    for (;;) {
      const n = readSync(fd, buffer, length, limit - length, null);
      if (n === 0) return Buffer.from(buffer.subarray(0, length));
      length += n;
      if (length === limit) return null;
    }
  } finally {
    closeSync(fd);
  }
}
