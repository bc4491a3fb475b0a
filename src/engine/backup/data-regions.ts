import { FileHandle } from 'node:fs/promises';
import { nativeFs, SEEK_DATA, SEEK_HOLE } from '../platform/native-fs';

/** Where a sparse file's data lies: [offset, length] regions, and the holes between them. */
export interface DataRegions {
  size: number;
  data: [number, number][];
  holes: [number, number][];
}

/**
 * Maps a file's data and holes with lseek(SEEK_DATA/SEEK_HOLE), up to `size` (the size the scan
 * found). A file system without hole support reports the whole file as data, so the answer is
 * never wrong, only less sparse. Returns null when the file has no holes.
 */
export function fileDataRegions(fd: number, size: number): DataRegions | null {
  const native = nativeFs();
  const data: [number, number][] = [];
  let offset = 0;
  while (offset < size) {
    const start = native.seekDataOrHole(fd, offset, SEEK_DATA);
    if (start < 0 || start >= size) break;
    const hole = native.seekDataOrHole(fd, start, SEEK_HOLE);
    const end = Math.min(hole < 0 ? size : hole, size);
    data.push([start, end - start]);
    offset = end;
  }
  const holes: [number, number][] = [];
  let cursor = 0;
  for (const [start, length] of data) {
    if (start > cursor) holes.push([cursor, start - cursor]);
    cursor = start + length;
  }
  if (cursor < size) holes.push([cursor, size - cursor]);
  return holes.length > 0 ? { size, data, holes } : null;
}

/** What a region reader read: the logical end it reached (short of `size` if the file shrank). */
export interface RegionReader {
  read: (buffer: Buffer, offset: number, length: number) => Promise<number>;
  /**
   * The file's length as read: the mapped size when every region was read whole, else (the
   * file shrank while it was read) the offset just after the last byte read.
   */
  logicalEnd(): number;
}

/**
 * A sequential read of a file's data regions only (all of it when `regions` is null), for the
 * chunker: holes are skipped, so a 2 GiB sparse file with 4 MiB of data costs 4 MiB of reading.
 */
export function regionReader(handle: FileHandle, regions: DataRegions | null): RegionReader {
  if (regions === null) {
    let position = 0;
    return {
      read: async (buffer, offset, length) => {
        const { bytesRead } = await handle.read(buffer, offset, length, null);
        position += bytesRead;
        return bytesRead;
      },
      logicalEnd: () => position,
    };
  }
  let index = 0;
  let position = regions.data[0]?.[0] ?? 0;
  let ended = false;
  return {
    read: async (buffer, offset, length) => {
      while (!ended && index < regions.data.length) {
        const [start, regionLength] = regions.data[index];
        const left = start + regionLength - position;
        if (left <= 0) {
          index++;
          if (index < regions.data.length) position = regions.data[index][0];
          continue;
        }
        const { bytesRead } = await handle.read(buffer, offset, Math.min(length, left), position);
        // The file shrank while it was read: what was read so far is all there is.
        if (bytesRead === 0) ended = true;
        position += bytesRead;
        return bytesRead;
      }
      return 0;
    },
    logicalEnd: () => (ended ? position : regions.size),
  };
}
