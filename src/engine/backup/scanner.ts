import { BigIntStats, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { displayName, FileName, joinName, storedName, StoredName } from '../file-names';
import { describe } from '../repository/repository';
import { BackupProblem } from './problems';

/** A file-system entry found by the scan, before any content is read. */
export interface ScannedEntry {
  /** The name as stored in the tree: exact bytes, whatever they are (see file-names.ts). */
  stored: StoredName;
  absolutePath: FileName;
  /** '/'-separated below the source root, names that are not UTF-8 escaped: for problems. */
  relativePath: string;
  kind: EntryKind;
  stats: BigIntStats;
  children: ScannedEntry[];
}

export type EntryKind = 'file' | 'dir' | 'symlink' | 'fifo' | 'chardev' | 'blockdev' | 'socket';

export interface ScanResult {
  root: ScannedEntry;
  totalFiles: number;
  totalBytes: number;
  /** Entries that could not be listed or stat'ed: not in the scan, recorded as `unreadable`. */
  problems: BackupProblem[];
}

function kindOf(stats: BigIntStats): EntryKind {
  if (stats.isFile()) return 'file';
  if (stats.isDirectory()) return 'dir';
  if (stats.isSymbolicLink()) return 'symlink';
  if (stats.isFIFO()) return 'fifo';
  if (stats.isCharacterDevice()) return 'chardev';
  if (stats.isBlockDevice()) return 'blockdev';
  // What is left on Linux is a socket (st_mode S_IFSOCK): it holds no data and cannot be restored.
  return 'socket';
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
    problems: [],
  };
  const rootStats = await fs.lstat(root, { bigint: true });
  result.root = {
    stored: { name: path.basename(root) },
    absolutePath: root,
    relativePath: '',
    kind: kindOf(rootStats),
    stats: rootStats,
    children: [],
  };
  const unreadable = (relativePath: string, message: string) =>
    result.problems.push({ reason: 'unreadable', path: relativePath || '.', message });
  const visit = async (entry: ScannedEntry): Promise<void> => {
    if (entry.kind === 'file') {
      result.totalFiles++;
      result.totalBytes += Number(entry.stats.size);
    }
    if (entry.kind !== 'dir') return;
    let names: Buffer[];
    try {
      // As bytes: a name that is not UTF-8 would otherwise come back mangled and unreadable.
      names = (await fs.readdir(entry.absolutePath, { encoding: 'buffer' })).sort(Buffer.compare);
    } catch (error) {
      unreadable(entry.relativePath, `cannot list directory: ${describe(error)}`);
      return;
    }
    for (const bytes of names) {
      const stored = storedName(bytes);
      const absolutePath = joinName(entry.absolutePath, stored.rawName !== undefined ? bytes : stored.name);
      const relativePath = entry.relativePath === '' ? displayName(bytes) : `${entry.relativePath}/${displayName(bytes)}`;
      let stats: BigIntStats;
      try {
        stats = await fs.lstat(absolutePath, { bigint: true });
      } catch (error) {
        unreadable(relativePath, `cannot stat: ${describe(error)}`);
        continue;
      }
      const child: ScannedEntry = { stored, absolutePath, relativePath, kind: kindOf(stats), stats, children: [] };
      entry.children.push(child);
      await visit(child);
    }
  };
  await visit(result.root);
  return result;
}
