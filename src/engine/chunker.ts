import { createHmac } from 'node:crypto';

/**
 * Content-defined chunking in the FastCDC style: a gear rolling hash whose table is derived
 * from the repository key, and normalised chunking (a stricter mask before the average size,
 * a looser one after) so that chunk sizes cluster around the average. Because cut points
 * depend only on nearby content, inserting bytes at the front of a file moves one or two
 * boundaries and every later chunk is found again by deduplication.
 */
export interface ChunkerParams {
  minSize: number;
  avgSize: number;
  maxSize: number;
}

export const DEFAULT_CHUNKER_PARAMS: ChunkerParams = {
  minSize: 512 * 1024,
  avgSize: 1024 * 1024,
  maxSize: 8 * 1024 * 1024,
};

export class Chunker {
  private readonly gear: Uint32Array;
  private readonly strictMask: number;
  private readonly looseMask: number;

  constructor(
    readonly params: ChunkerParams,
    seed: Buffer,
  ) {
    const { minSize, avgSize, maxSize } = params;
    if (!(minSize > 0 && minSize <= avgSize && avgSize <= maxSize)) {
      throw new Error('chunker sizes must satisfy 0 < min <= avg <= max');
    }
    this.gear = gearTable(seed);
    const bits = Math.round(Math.log2(avgSize));
    // The gear hash shifts left, so its high bits summarise the most recent 32 bytes.
    this.strictMask = highBits(bits + 2);
    this.looseMask = highBits(bits - 2);
  }

  /**
   * Length of the next chunk of data[offset, offset + length). The caller passes at least
   * maxSize bytes, or everything that is left of the file.
   */
  nextChunkLength(data: Uint8Array, offset: number, length: number): number {
    const { minSize, avgSize, maxSize } = this.params;
    if (length <= minSize) return length;
    const end = offset + Math.min(length, maxSize);
    const normal = offset + Math.min(length, avgSize);
    const gear = this.gear;
    let hash = 0;
    let i = offset + minSize;
    for (; i < normal; i++) {
      hash = ((hash << 1) + gear[data[i]]) | 0;
      if ((hash & this.strictMask) === 0) return i + 1 - offset;
    }
    for (; i < end; i++) {
      hash = ((hash << 1) + gear[data[i]]) | 0;
      if ((hash & this.looseMask) === 0) return i + 1 - offset;
    }
    return end - offset;
  }
}

function highBits(count: number): number {
  const clamped = Math.max(1, Math.min(31, count));
  return (~0 << (32 - clamped)) | 0;
}

function gearTable(seed: Buffer): Uint32Array {
  const table = new Uint32Array(256);
  for (let block = 0; block < 256 / 8; block++) {
    const digest = createHmac('sha256', seed).update(`gear-${block}`).digest();
    for (let j = 0; j < 8; j++) table[block * 8 + j] = digest.readUInt32LE(j * 4);
  }
  return table;
}

/**
 * Splits a file read through `read` into chunks, holding at most two maximum-size chunks in
 * memory. Each yielded chunk is a fresh Buffer the caller may keep. Pass `workBuffer` (at least
 * twice the maximum chunk size) to reuse one across files: allocating 16 MiB per file made
 * garbage collection the dominant cost of backing up many small files. One work buffer must
 * not serve two streams at the same time.
 */
export async function* chunkStream(
  chunker: Chunker,
  read: (buffer: Buffer, offset: number, length: number) => Promise<number>,
  workBuffer?: Buffer,
): AsyncGenerator<Buffer> {
  const { maxSize } = chunker.params;
  if (workBuffer && workBuffer.length < maxSize * 2) throw new RangeError('work buffer must hold two maximum-size chunks');
  const buffer = workBuffer ?? Buffer.allocUnsafe(maxSize * 2);
  let start = 0;
  let end = 0;
  let eof = false;
  for (;;) {
    if (!eof && end - start < maxSize) {
      if (start > 0) {
        buffer.copyWithin(0, start, end);
        end -= start;
        start = 0;
      }
      while (!eof && end < buffer.length) {
        const n = await read(buffer, end, buffer.length - end);
        if (n === 0) eof = true;
        end += n;
      }
    }
    if (end === start) return;
    const length = chunker.nextChunkLength(buffer, start, end - start);
    yield Buffer.from(buffer.subarray(start, start + length));
    start += length;
  }
}
