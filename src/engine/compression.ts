import { compress as zstdCompress, decompress as zstdDecompress } from '@mongodb-js/zstd';

/**
 * zstd through @mongodb-js/zstd: a prebuilt binary from the npm registry (nothing is built or
 * downloaded at install time) whose calls run on libuv's thread pool, so compression of one
 * chunk overlaps chunking and hashing of the next on the other core. Data that zstd cannot
 * shrink by at least 1/32, or whose bytes look random already, is stored raw, which also makes
 * restoring it free.
 */
export type Codec = 'zstd' | 'none';

export const ZSTD_LEVEL = 3;

/** Below this size a blob is stored raw: framing overhead would eat any gain. */
const MIN_COMPRESSIBLE = 64;

/**
 * Already-compressed data (photos, archives, PDFs' streams) has byte entropy close to 8 bits,
 * text and documents far less (measured on the benchmark data set: text ≤ 5.2 bits, media ≥ 7.8
 * with zstd gaining nothing). A byte histogram over every 7th byte costs a fraction of what zstd
 * costs to find that out, and zstd's call was the largest cost left on the backup's main thread.
 */
const INCOMPRESSIBLE_BITS = 7.2;
const ENTROPY_MIN_BYTES = 4096;
const SAMPLE_STRIDE = 7;

export function looksIncompressible(data: Uint8Array): boolean {
  if (data.length < ENTROPY_MIN_BYTES) return false;
  const histogram = new Uint32Array(256);
  let samples = 0;
  for (let i = 0; i < data.length; i += SAMPLE_STRIDE) {
    histogram[data[i]]++;
    samples++;
  }
  let bits = 0;
  for (const count of histogram) {
    if (count === 0) continue;
    const p = count / samples;
    bits -= p * Math.log2(p);
  }
  return bits >= INCOMPRESSIBLE_BITS;
}

export async function compressBlob(data: Buffer): Promise<{ codec: Codec; payload: Buffer }> {
  if (data.length < MIN_COMPRESSIBLE || looksIncompressible(data)) return { codec: 'none', payload: data };
  const compressed = await zstdCompress(data, ZSTD_LEVEL);
  if (compressed.length > data.length - (data.length >> 5)) return { codec: 'none', payload: data };
  return { codec: 'zstd', payload: compressed };
}

export async function decompressBlob(codec: Codec, payload: Buffer): Promise<Buffer> {
  if (codec === 'none') return payload;
  if (codec === 'zstd') return zstdDecompress(payload);
  throw new Error(`unknown codec ${String(codec)}`);
}
