import { write, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import { EngineError } from '../errors';
import { FileName, fsName } from '../file-names';
import { TreeEntry } from '../repository/format';
import { describe, Repository } from '../repository/repository';
import { SubjectKeyRing } from '../subjects/key-ring';
import { assertPseudonym } from '../subjects/pseudonym';
import { ErasedCounts, planRestore } from './plan';
import { ConfinedTarget } from './confined-target';

/** Files up to this size are gathered in memory and written in one synchronous go. */
const SMALL_FILE_BYTES = 4 * 1024 * 1024;
const writeAsync = promisify(write);

export interface RestoreOptions {
  include?: string[];
  /** Allow a non-empty target; existing files at restored paths are replaced. */
  overwrite?: boolean;
  onProgress?: (progress: RestoreProgress) => void;
  /**
   * Restore only this data subject's files and folders (by pseudonym), with the folders that
   * lead to them: the copy a subject access request (GDPR Art. 15) asks for.
   */
  onlySubject?: string;
  /**
   * The folder the target must lie in (the service's restore root). Every folder from there
   * down to the target is opened without following symlinks, so the target cannot have been
   * steered elsewhere since the restore was accepted.
   */
  within?: string;
}

export interface RestoreProgress {
  filesDone: number;
  bytesDone: number;
  totalFiles: number;
  totalBytes: number;
  currentFile: string | null;
}

export interface RestoreResult {
  snapshotId: string;
  files: number;
  directories: number;
  symlinks: number;
  bytes: number;
  errors: { path: string; message: string }[];
  /** Entries left out because their data subject was erased: not an error, the promised outcome. */
  skippedErased: ErasedCounts;
}

/**
 * Restores a snapshot (or the included parts of it) into `target`. Every blob is authenticated
 * and hash-checked as it is read; each file is written under a temporary name and renamed into
 * place, so a damaged blob or a crash never leaves a half-written file under the real name.
 * Nothing is ever written through a symlink or outside the target: every write is made
 * relative to handles opened from the target down, one name at a time (ConfinedTarget).
 */
export async function restore(
  repository: Repository,
  snapshotReference: string,
  targetPath: string,
  options: RestoreOptions = {},
): Promise<RestoreResult> {
  if (options.onlySubject !== undefined) assertPseudonym(options.onlySubject);
  return repository.withCurrentIndex(() => restoreUnderLock(repository, snapshotReference, targetPath, options));
}

async function restoreUnderLock(
  repository: Repository,
  snapshotReference: string,
  targetPath: string,
  options: RestoreOptions,
): Promise<RestoreResult> {
  const { id, snapshot } = await repository.resolveSnapshot(snapshotReference);
  // The subject keys this restore opens stay with it until it ends, even if shredded meanwhile.
  const keys = repository.subjectKeys();
  // Plan first: an unsafe manifest or a bad --include must not leave even an empty target behind.
  const {
    entries: plan,
    skippedErased,
    errors,
  } = await planRestore(repository, snapshot.tree, options.include ?? [], {
    keys,
    onlySubject: options.onlySubject,
  });
  const target = ConfinedTarget.open(targetPath, { within: options.within, overwrite: options.overwrite ?? false });
  const files = plan.filter((item) => item.entry.type === 'file');
  const progress: RestoreProgress = {
    filesDone: 0,
    bytesDone: 0,
    totalFiles: files.length,
    totalBytes: files.reduce((sum, item) => sum + (item.entry.type === 'file' ? item.entry.size : 0), 0),
    currentFile: null,
  };
  const result: RestoreResult = { snapshotId: id, files: 0, directories: 0, symlinks: 0, bytes: 0, errors: [...errors], skippedErased };
  try {
    for (const { relativePath, names: parts, entry } of plan) {
      try {
        if (entry.type === 'dir') {
          target.makeFolder(parts, { mode: entry.mode, mtimeNs: BigInt(entry.mtimeNs) });
          result.directories++;
        } else if (entry.type === 'symlink') {
          target.symlink(parts, fsName({ name: entry.target, rawName: entry.rawTarget }), BigInt(entry.mtimeNs));
          result.symlinks++;
        } else {
          progress.currentFile = relativePath;
          const onBytes = (bytes: number) => {
            progress.bytesDone += bytes;
            options.onProgress?.({ ...progress });
          };
          await restoreFile(repository, keys, target, parts, entry, onBytes);
          result.files++;
          result.bytes += entry.size;
          progress.filesDone++;
          options.onProgress?.({ ...progress });
        }
      } catch (error) {
        if (error instanceof EngineError && error.code === 'UNSAFE_PATH') throw error;
        result.errors.push({ path: relativePath, message: error instanceof EngineError ? error.message : describe(error) });
      }
    }
  } finally {
    // Folder modes and times are applied as the walk leaves each folder, the rest here.
    target.close();
  }
  return result;
}

/**
 * Setuid and setgid bits are kept only where the owner is restored too: a file owned by
 * someone else in the snapshot would otherwise come back as a setuid binary of whoever runs
 * the restore (root, for the service). Owners are not restored yet, so the bits are dropped.
 */
function restorableMode(mode: number): number {
  return mode & ~0o6000;
}

async function restoreFile(
  repository: Repository,
  keys: SubjectKeyRing,
  target: ConfinedTarget,
  parts: FileName[],
  entry: Extract<TreeEntry, { type: 'file' }>,
  onBytes: (bytes: number) => void,
): Promise<void> {
  const mode = restorableMode(entry.mode);
  const mtimeNs = BigInt(entry.mtimeNs);
  if (entry.size <= SMALL_FILE_BYTES) {
    // Every blob is read (authenticated, hash-checked) before the file is created at all, and
    // written synchronously: for the many small files of a typical tree, thread-pool round trips
    // would cost more than the writing itself.
    const blobs: Buffer[] = [];
    for (const blobId of entry.content) blobs.push(await repository.readBlob(blobId, keys));
    await target.writeFile(parts, (fd) => blobs.forEach((blob) => writeAllSync(fd, blob)), mode, mtimeNs);
    onBytes(entry.size);
    return;
  }
  await target.writeFile(
    parts,
    async (fd) => {
      for (const blobId of entry.content) {
        const data = await repository.readBlob(blobId, keys);
        await writeAll(fd, data);
        onBytes(data.length);
      }
    },
    mode,
    mtimeNs,
  );
}

function writeAllSync(fd: number, data: Buffer): void {
  let written = 0;
  while (written < data.length) written += writeSync(fd, data, written, data.length - written);
}

async function writeAll(fd: number, data: Buffer): Promise<void> {
  let written = 0;
  while (written < data.length) written += (await writeAsync(fd, data, written, data.length - written)).bytesWritten;
}
