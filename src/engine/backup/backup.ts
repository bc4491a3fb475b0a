import { constants, promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { chunkStream } from '../chunker';
import { EngineError, errnoCode } from '../errors';
import { BackupStatistics, FORMAT_VERSION, Snapshot, Tree, TreeEntry } from '../repository/format';
import { describe, Repository, StoredSnapshot } from '../repository/repository';
import { BlobSaver, BlobSaverOptions } from './blob-saver';
import { ScannedEntry, scanSource } from './scanner';

export interface BackupProgress {
  filesDone: number;
  bytesDone: number;
  totalFiles: number;
  totalBytes: number;
  currentFile: string | null;
}

export interface BackupOptions extends BlobSaverOptions {
  /** Re-read every file instead of trusting size, mtime and inode from the parent snapshot. */
  full?: boolean;
  tags?: string[];
  onProgress?: (progress: BackupProgress) => void;
}

export interface BackupError {
  path: string;
  message: string;
}

export interface BackupResult {
  snapshotId: string;
  snapshot: Snapshot;
  parent: string | null;
  errors: BackupError[];
  /** True when some entries could not be read: the snapshot holds everything else. */
  incomplete: boolean;
}

/**
 * Backs up one file or directory tree into the repository and writes a snapshot for it.
 * The parent is the newest snapshot of the same path from this host; unchanged files
 * (same size, mtime and inode) reuse the parent's chunk list without being read.
 */
export async function backup(repository: Repository, sourcePath: string, options: BackupOptions = {}): Promise<BackupResult> {
  const started = Date.now();
  const source = path.resolve(sourcePath);
  let scan;
  try {
    scan = await scanSource(source);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') throw new EngineError('SOURCE_NOT_FOUND', `source path ${source} does not exist`);
    throw new EngineError('IO_ERROR', `cannot read source path ${source}: ${describe(error)}`);
  }
  if (scan.root.kind !== 'dir' && scan.root.kind !== 'file') {
    throw new EngineError('INVALID_ARGUMENT', `source path ${source} must be a file or a directory`);
  }
  const parent = await findParent(repository, source);
  const run = new BackupRun(repository, new BlobSaver(repository, options), options, scan.totalFiles, scan.totalBytes);
  run.errors.push(...scan.errors);

  const rootTree =
    scan.root.kind === 'dir'
      ? await run.saveDirectory(scan.root, parent?.snapshot.tree ?? null)
      : await run.saveTree({
          entries: compact([await run.entryFor(scan.root, await parentEntries(repository, parent?.snapshot.tree ?? null))]),
        });
  await run.saver.finish();

  const statistics: BackupStatistics = {
    ...run.statistics,
    ...run.saver.statistics,
    durationMs: Date.now() - started,
    errors: run.errors.length,
  };
  const snapshot: Snapshot = {
    version: FORMAT_VERSION,
    time: new Date(started).toISOString(),
    hostname: hostname(),
    path: source,
    sourceType: scan.root.kind,
    tags: options.tags ?? [],
    parent: parent?.id ?? null,
    tree: rootTree,
    merkleRoot: rootTree,
    statistics,
  };
  const snapshotId = await repository.saveSnapshot(snapshot);
  return { snapshotId, snapshot, parent: parent?.id ?? null, errors: run.errors, incomplete: run.errors.length > 0 };
}

async function findParent(repository: Repository, source: string): Promise<StoredSnapshot | undefined> {
  const host = hostname();
  // A damaged snapshot cannot be a parent, and must not stop new backups: skip it.
  const candidates = await repository.listSnapshots(() => undefined);
  return candidates.filter((entry) => entry.snapshot.path === source && entry.snapshot.hostname === host).at(-1);
}

async function parentEntries(repository: Repository, treeId: string | null): Promise<Map<string, TreeEntry>> {
  if (!treeId) return new Map();
  try {
    const tree = await repository.readTree(treeId);
    return new Map(tree.entries.map((entry) => [entry.name, entry]));
  } catch {
    // An unreadable parent only costs re-reading the files; the new snapshot is still complete.
    return new Map();
  }
}

function compact<T>(items: (T | null)[]): T[] {
  return items.filter((item): item is T => item !== null);
}

class BackupRun {
  readonly errors: BackupError[] = [];
  readonly statistics = {
    files: 0,
    directories: 0,
    symlinks: 0,
    filesRead: 0,
    filesUnchanged: 0,
    bytesRead: 0,
    totalBytes: 0,
    duplicateBytes: 0,
    chunks: 0,
  };
  private filesDone = 0;
  private bytesDone = 0;

  constructor(
    private readonly repository: Repository,
    readonly saver: BlobSaver,
    private readonly options: BackupOptions,
    private readonly totalFiles: number,
    private readonly totalBytesEstimate: number,
  ) {}

  async saveDirectory(directory: ScannedEntry, parentTreeId: string | null): Promise<string> {
    const previous = await parentEntries(this.repository, parentTreeId);
    const entries: TreeEntry[] = [];
    for (const child of directory.children) {
      const entry = await this.entryFor(child, previous);
      if (entry) entries.push(entry);
    }
    return this.saveTree({ entries });
  }

  async saveTree(tree: Tree): Promise<string> {
    const { id } = await this.saver.save('tree', Buffer.from(JSON.stringify(tree)));
    return id;
  }

  async entryFor(entry: ScannedEntry, previous: Map<string, TreeEntry>): Promise<TreeEntry | null> {
    const meta = { name: entry.name, mode: Number(entry.stats.mode & 0o7777n), mtimeNs: entry.stats.mtimeNs.toString() };
    const before = previous.get(entry.name);
    switch (entry.kind) {
      case 'dir': {
        this.statistics.directories++;
        const subtree = await this.saveDirectory(entry, before?.type === 'dir' ? before.subtree : null);
        return { ...meta, type: 'dir', subtree };
      }
      case 'symlink': {
        this.statistics.symlinks++;
        try {
          return { ...meta, type: 'symlink', target: await fs.readlink(entry.absolutePath) };
        } catch (error) {
          this.errors.push({ path: entry.absolutePath, message: `cannot read symlink: ${describe(error)}` });
          return null;
        }
      }
      case 'file':
        return this.fileEntry(entry, meta, before);
      default:
        // Sockets, FIFOs and devices hold no data worth restoring; they are skipped, not failed.
        return null;
    }
  }

  private async fileEntry(
    entry: ScannedEntry,
    meta: { name: string; mode: number; mtimeNs: string },
    before: TreeEntry | undefined,
  ): Promise<TreeEntry | null> {
    const size = Number(entry.stats.size);
    const inode = entry.stats.ino.toString();
    this.report(entry.absolutePath);
    if (
      !this.options.full &&
      before?.type === 'file' &&
      before.size === size &&
      before.mtimeNs === meta.mtimeNs &&
      before.inode === inode &&
      before.content.every((id) => this.saver.isKnown(id))
    ) {
      this.statistics.files++;
      this.statistics.filesUnchanged++;
      this.statistics.totalBytes += size;
      this.statistics.chunks += before.content.length;
      this.fileDone(size);
      return { ...meta, type: 'file', size, inode, content: before.content };
    }
    try {
      const { content, bytes } = await this.readContent(entry.absolutePath);
      this.statistics.files++;
      this.statistics.filesRead++;
      this.statistics.totalBytes += bytes;
      this.fileDone(0);
      return { ...meta, type: 'file', size: bytes, inode, content };
    } catch (error) {
      if (error instanceof EngineError) throw error;
      this.errors.push({ path: entry.absolutePath, message: `cannot read file: ${describe(error)}` });
      this.fileDone(0);
      return null;
    }
  }

  private async readContent(file: string): Promise<{ content: string[]; bytes: number }> {
    // O_NOFOLLOW: if the file was swapped for a symlink since the scan, do not read through it.
    const handle = await fs.open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    const content: string[] = [];
    let bytes = 0;
    try {
      const read = async (buffer: Buffer, offset: number, length: number) => (await handle.read(buffer, offset, length, null)).bytesRead;
      for await (const chunk of chunkStream(this.repository.chunker, read)) {
        const { id, isNew } = await this.saver.save('data', chunk);
        content.push(id);
        bytes += chunk.length;
        this.statistics.bytesRead += chunk.length;
        this.statistics.chunks++;
        if (!isNew) this.statistics.duplicateBytes += chunk.length;
        this.bytesDone += chunk.length;
        this.report(file);
      }
    } finally {
      await handle.close();
    }
    return { content, bytes };
  }

  private fileDone(skippedBytes: number): void {
    this.filesDone++;
    this.bytesDone += skippedBytes;
  }

  private report(currentFile: string): void {
    this.options.onProgress?.({
      filesDone: this.filesDone,
      bytesDone: this.bytesDone,
      totalFiles: this.totalFiles,
      totalBytes: Math.max(this.totalBytesEstimate, this.bytesDone),
      currentFile,
    });
  }
}
