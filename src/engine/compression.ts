import { compress as zstdCompress, decompress as zstdDecompress } from '@mongodb-js/zstd';

/**
 * zstd through @mongodb-js/zstd: a prebuilt binary from the npm registry (nothing is built or
 * downloaded at install time) whose calls run on libuv's thread pool, so compression of one
 * chunk overlaps chunking and hashing of the next on the other core. Data that zstd cannot
 * shrink by at least 1/32 is stored raw, which also makes restoring it free.
 */
export type Codec = 'zstd' | 'none';

export const ZSTD_LEVEL = 3;

/** Below this size a blob is stored raw: framing overhead would eat any gain. */
const MIN_COMPRESSIBLE = 64;

export async function compressBlob(data: Buffer): Promise<{ codec: Codec; payload: Buffer }> {
  if (data.length < MIN_COMPRESSIBLE) return { codec: 'none', payload: data };
  const compressed = await zstdCompress(data, ZSTD_LEVEL);
  if (compressed.length > data.length - (data.length >> 5)) return { codec: 'none', payload: data };
  return { codec: 'zstd', payload: compressed };
}

export async function decompressBlob(codec: Codec, payload: Buffer): Promise<Buffer> {
  if (codec === 'none') return payload;
  if (codec === 'zstd') return zstdDecompress(payload);
  throw new Error(`unknown codec ${String(codec)}`);
}
