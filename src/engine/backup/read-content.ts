import { Chunker, chunkStream } from '../chunker';
import { ScopeKeys } from '../crypto/scope-keys';
import { displayName } from '../file-names';
import { BlobSaver } from './blob-saver';
import { fileDataRegions, regionReader } from './data-regions';
import { ScannedEntry } from './scanner';
import { openForReading, readSmallFile } from './small-file';

/** What a file's reading yields: its chunk ids, its length, its holes, and how it changed meanwhile. */
export interface FileContent {
  content: string[];
  /** The file's length as read, holes included. */
  bytes: number;
  holes?: [number, number][];
  /** How the file differed, once read, from what the scan found; null when it did not. */
  changed: string | null;
}

/** Where the chunks go and how the reading is counted: the backup run's side of it. */
export interface ContentSink {
  chunker: Chunker;
  saver: BlobSaver;
  /** One work buffer serves every file: files are read one after another. */
  workBuffer(): Buffer;
  onChunk(length: number, isNew: boolean, file: string): void;
  /** Bytes of holes skipped over, for progress. */
  onHoles(bytes: number): void;
  throwIfCancelled(): void;
}

/**
 * Reads a file's content into chunks. `changed` says how the file differed, once read, from
 * what the scan found (size or mtime): the snapshot then holds what was read, and says so.
 * A sparse file's holes are found with SEEK_DATA/SEEK_HOLE and left out of the content.
 */
export async function readFileContent(
  entry: ScannedEntry,
  scope: ScopeKeys,
  expectedSize: number,
  sink: ContentSink,
): Promise<FileContent> {
  const file = entry.absolutePath;
  const content: string[] = [];
  let bytes = 0;
  const small = expectedSize <= sink.chunker.params.minSize ? readSmallFile(file, sink.workBuffer(), expectedSize) : null;
  if (small) {
    // At most the chunker's minimum size: the whole file is one chunk, as chunkStream would cut it.
    if (small.data.length > 0) {
      const { id, isNew } = await sink.saver.save('data', small.data, scope);
      content.push(id);
      sink.onChunk(small.data.length, isNew, displayName(file));
    }
    return { content, bytes: small.data.length, changed: changeOf(entry.stats, small.after) };
  }
  const handle = await openForReading(file);
  try {
    // Only a file with fewer blocks than its size can have holes: the lseeks are spent on those alone.
    const regions = entry.stats.blocks * 512n < entry.stats.size ? fileDataRegions(handle.fd, expectedSize) : null;
    const reader = regionReader(handle, regions);
    for await (const chunk of chunkStream(sink.chunker, reader.read, sink.workBuffer())) {
      sink.throwIfCancelled();
      const { id, isNew } = await sink.saver.save('data', chunk, scope);
      content.push(id);
      bytes += chunk.length;
      sink.onChunk(chunk.length, isNew, displayName(file));
    }
    const changed = changeOf(entry.stats, await handle.stat({ bigint: true }));
    if (regions === null) return { content, bytes, changed };
    // The holes up to where the reading got (all of them unless the file shrank meanwhile).
    const size = reader.logicalEnd();
    const holes = regions.holes
      .filter(([start]) => start < size)
      .map(([start, length]): [number, number] => [start, Math.min(length, size - start)]);
    sink.onHoles(size - bytes);
    return { content, bytes: size, holes, changed: changed ?? (size !== regions.size ? 'it shrank' : null) };
  } finally {
    await handle.close();
  }
}

/** How a file differs from what the scan found, or null: size or mtime changed while it was read. */
function changeOf(scanned: { size: bigint; mtimeNs: bigint }, after: { size: bigint; mtimeNs: bigint }): string | null {
  if (after.size !== scanned.size) return `size ${scanned.size} → ${after.size}`;
  if (after.mtimeNs !== scanned.mtimeNs) return 'mtime changed';
  return null;
}
