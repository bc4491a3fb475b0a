import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { backup } from '../../src/engine';
import { Chunker, chunkStream, DEFAULT_CHUNKER_PARAMS } from '../../src/engine/chunker';
import { initRepository, openRepository } from '../support/repository';
import { useTempDirs } from '../support/temp-dirs';
import { MiB, pseudoRandomBytes, sha256 } from '../support/tree';

/**
 * Content-defined chunking: cut points depend on nearby content only, so bytes inserted at the
 * front of a file change the first chunk or two and every later chunk is found again.
 */
async function chunksOf(chunker: Chunker, data: Buffer): Promise<Buffer[]> {
  let position = 0;
  // Reads of an odd size, as a file system might return them.
  const read = async (buffer: Buffer, offset: number, length: number) => {
    const n = data.copy(buffer, offset, position, position + Math.min(length, 3 * MiB + 17));
    position += n;
    return n;
  };
  const chunks: Buffer[] = [];
  for await (const chunk of chunkStream(chunker, read)) chunks.push(chunk);
  return chunks;
}

describe('chunker', () => {
  const chunker = new Chunker(DEFAULT_CHUNKER_PARAMS, Buffer.from('a fixed test seed'));
  const original = pseudoRandomBytes('chunker input', 40 * MiB);
  let originalChunks: Buffer[];

  beforeAll(async () => {
    originalChunks = await chunksOf(chunker, original);
  });

  it('splits 40 MiB into chunks within the configured sizes that add up to the input', () => {
    const { minSize, maxSize } = DEFAULT_CHUNKER_PARAMS;
    expect(originalChunks.length).toBeGreaterThanOrEqual(20);
    originalChunks.slice(0, -1).forEach((chunk) => {
      expect(chunk.length).toBeGreaterThanOrEqual(minSize);
      expect(chunk.length).toBeLessThanOrEqual(maxSize);
    });
    expect(Buffer.concat(originalChunks).equals(original)).toBe(true);
  });

  it('finds at least 90% of the chunks again after 100 bytes are inserted at the front', async () => {
    const shifted = Buffer.concat([pseudoRandomBytes('inserted', 100), original]);
    const shiftedChunks = await chunksOf(chunker, shifted);
    const shiftedIds = new Set(shiftedChunks.map(sha256));
    const found = originalChunks.filter((chunk) => shiftedIds.has(sha256(chunk))).length;
    expect(found / originalChunks.length).toBeGreaterThanOrEqual(0.9);
  });

  it('cuts the same content the same way every time, and differently under another seed', async () => {
    const again = await chunksOf(new Chunker(DEFAULT_CHUNKER_PARAMS, Buffer.from('a fixed test seed')), original);
    expect(again.map((chunk) => chunk.length)).toEqual(originalChunks.map((chunk) => chunk.length));
    const other = await chunksOf(new Chunker(DEFAULT_CHUNKER_PARAMS, Buffer.from('another seed')), original);
    expect(other.map((chunk) => chunk.length)).not.toEqual(originalChunks.map((chunk) => chunk.length));
  });
});

describe('deduplication after an insertion at the front of a file', () => {
  const tempDir = useTempDirs();

  it('stores at most a few chunks again: at least 80% of the file is duplicate', async () => {
    const work = await tempDir('shifted');
    const source = path.join(work, 'source');
    const repoPath = path.join(work, 'repo');
    const content = pseudoRandomBytes('database dump', 20 * MiB);
    await fs.mkdir(source);
    await fs.writeFile(path.join(source, 'dump.bin'), content);
    await backup(await initRepository(repoPath), source);

    const prefixed = Buffer.concat([Buffer.from('-- a new header line at the top of the dump\n'), content]);
    await fs.writeFile(path.join(source, 'dump.bin'), prefixed);
    const second = await backup(await openRepository(repoPath), source);
    const { duplicateBytes, bytesRead, newBytes } = second.snapshot.statistics;
    expect(bytesRead).toBe(prefixed.length);
    expect(duplicateBytes).toBeGreaterThanOrEqual(0.8 * prefixed.length);
    expect(newBytes).toBeLessThan(0.2 * prefixed.length);
  });
});
