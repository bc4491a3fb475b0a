import { BigIntStats, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { describe } from '../repository/repository';

/** A file-system entry found by the scan, before any content is read. */
export interface ScannedEntry {
  name: string;
  absolutePath: string;
  kind: 'file' | 'dir' | 'symlink' | 'other';
  stats: BigIntStats;
  children: ScannedEntry[];
}

export interface ScanResult {
  root: ScannedEntry;
  totalFiles: number;
  totalBytes: number;
  errors: { path: string; message: string }[];
}

function kindOf(stats: BigIntStats): ScannedEntry['kind'] {
  if (stats.isFile()) return 'file';
  if (stats.isDirectory()) return 'dir';
  if (stats.isSymbolicLink()) return 'symlink';
  return 'other';
}

/**
 * Walks the source once with lstat (symlinks are recorded, never followed) so that the backup
 * knows the total to report progress against. Entries that cannot be listed are reported as
 * errors and left out; the rest of the tree is still backed up.
 */
export async function scanSource(root: string): Promise<ScanResult> {
  const result: ScanResult = {
    root: undefined as unknown as ScannedEntry,
    totalFiles: 0,
    totalBytes: 0,
    errors: [],
  };
  const rootStats = await fs.lstat(root, { bigint: true });
  result.root = { name: path.basename(root), absolutePath: root, kind: kindOf(rootStats), stats: rootStats, children: [] };
  const visit = async (entry: ScannedEntry): Promise<void> => {
    if (entry.kind === 'file') {
      result.totalFiles++;
      result.totalBytes += Number(entry.stats.size);
    }
    if (entry.kind !== 'dir') return;
    let names: string[];
    try {
      names = (await fs.readdir(entry.absolutePath)).sort(compareNames);
    } catch (error) {
      result.errors.push({ path: entry.absolutePath, message: `cannot list directory: ${describe(error)}` });
      return;
    }
    for (const name of names) {
      const absolutePath = path.join(entry.absolutePath, name);
      let stats: BigIntStats;
      try {
        stats = await fs.lstat(absolutePath, { bigint: true });
      } catch (error) {
        result.errors.push({ path: absolutePath, message: `cannot stat: ${describe(error)}` });
        continue;
      }
      const child: ScannedEntry = { name, absolutePath, kind: kindOf(stats), stats, children: [] };
      entry.children.push(child);
      await visit(child);
    }
  };
  await visit(result.root);
  return result;
}

/** Byte-wise order, so trees sort the same way on every platform and locale. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
