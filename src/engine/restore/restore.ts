import { constants, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { EngineError, errnoCode } from '../errors';
import { TreeEntry } from '../repository/format';
import { describe, Repository } from '../repository/repository';
import { SubjectKeyRing } from '../subjects/key-ring';
import { assertPseudonym } from '../subjects/pseudonym';
import { ErasedCounts, planRestore } from './plan';
import { replaceAtomically, SMALL_FILE_BYTES, writeSmallFile } from './atomic-write';

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
   * The restore root the target must stay inside (one of RESTORE_ROOTS): the restore opens it
   * once and creates everything relative to that handle without following symlinks, so a
   * symlink swapped in on the way cannot lead it outside. Unset: the target alone is the bound.
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
 * Nothing is ever written through a symlink or outside the target.
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
  const target = await prepareTarget(path.resolve(targetPath), options.overwrite ?? false);
  const files = plan.filter((item) => item.entry.type === 'file');
  const progress: RestoreProgress = {
    filesDone: 0,
    bytesDone: 0,
    totalFiles: files.length,
    totalBytes: files.reduce((sum, item) => sum + (item.entry.type === 'file' ? item.entry.size : 0), 0),
    currentFile: null,
  };
  const result: RestoreResult = { snapshotId: id, files: 0, directories: 0, symlinks: 0, bytes: 0, errors: [...errors], skippedErased };
  const directories: { absolute: string; entry: TreeEntry }[] = [];
  const verified = new Set<string>();

  for (const { relativePath, entry } of plan) {
    const absolute = path.join(target, ...relativePath.split('/'));
    try {
      await assertInsideTarget(target, path.dirname(absolute), verified);
      if (entry.type === 'dir') {
        await ensureDirectory(absolute);
        directories.push({ absolute, entry });
        result.directories++;
      } else if (entry.type === 'symlink') {
        await replaceAtomically(absolute, (temp) => fs.symlink(entry.target, temp));
        await fs.lutimes(absolute, mtimeOf(entry), mtimeOf(entry));
        result.symlinks++;
      } else {
        progress.currentFile = relativePath;
        const onBytes = (bytes: number) => {
          progress.bytesDone += bytes;
          options.onProgress?.({ ...progress });
        };
        if (entry.size <= SMALL_FILE_BYTES) {
          // Every blob is read (authenticated, hash-checked) before the file is created at all.
          const blobs: Buffer[] = [];
          for (const blobId of entry.content) blobs.push(await repository.readBlob(blobId, keys));
          writeSmallFile(absolute, blobs, entry.mode, mtimeOf(entry));
          onBytes(entry.size);
        } else {
          await replaceAtomically(absolute, (temp) => writeFile(repository, keys, temp, entry, onBytes));
        }
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
  // Directory modes and times last, deepest first: writing children would change the mtimes.
  for (const { absolute, entry } of directories.reverse()) {
    await fs.chmod(absolute, entry.mode).catch(() => undefined);
    await fs.utimes(absolute, mtimeOf(entry), mtimeOf(entry)).catch(() => undefined);
  }
  return result;
}

async function prepareTarget(target: string, overwrite: boolean): Promise<string> {
  try {
    const stats = await fs.lstat(target);
    if (!stats.isDirectory()) {
      throw new EngineError('TARGET_NOT_DIRECTORY', `restore target ${target} exists and is not a directory`);
    }
    if (!overwrite && (await fs.readdir(target)).length > 0) {
      throw new EngineError('TARGET_NOT_EMPTY', `restore target ${target} is not empty; pass --overwrite to restore into it`);
    }
  } catch (error) {
    if (errnoCode(error) !== 'ENOENT') throw error;
    await fs.mkdir(target, { recursive: true, mode: 0o700 });
  }
  return fs.realpath(target);
}

/**
 * Refuses to write if any existing component between the target and `directory` is a symlink.
 * `verified` holds the folders this restore has already found to be real directories, so that
 * each is looked at once, not once per file below it.
 */
async function assertInsideTarget(target: string, directory: string, verified: Set<string>): Promise<void> {
  const relative = path.relative(target, directory);
  if (relative.startsWith('..') || path.isAbsolute(relative)) {
    throw new EngineError('UNSAFE_PATH', `refusing to write outside the restore target: ${directory}`);
  }
  let current = target;
  for (const part of relative.split(path.sep).filter(Boolean)) {
    current = path.join(current, part);
    if (verified.has(current)) continue;
    const stats = await fs.lstat(current);
    if (!stats.isDirectory()) {
      throw new EngineError('UNSAFE_PATH', `refusing to write through ${current}: it is not a directory (symlink or file)`);
    }
    verified.add(current);
  }
}

async function ensureDirectory(absolute: string): Promise<void> {
  try {
    await fs.mkdir(absolute, { mode: 0o700 });
  } catch (error) {
    if (errnoCode(error) !== 'EEXIST') throw error;
    const stats = await fs.lstat(absolute);
    if (!stats.isDirectory()) {
      throw new EngineError('UNSAFE_PATH', `cannot restore directory ${absolute}: a file or symlink is in the way`);
    }
  }
}

async function writeFile(
  repository: Repository,
  keys: SubjectKeyRing,
  temp: string,
  entry: Extract<TreeEntry, { type: 'file' }>,
  onBytes: (bytes: number) => void,
): Promise<void> {
  // O_EXCL|O_NOFOLLOW: the temporary name is new, never an existing file or a planted symlink.
  const handle = await fs.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    for (const id of entry.content) {
      const data = await repository.readBlob(id, keys);
      await handle.write(data);
      onBytes(data.length);
    }
    await handle.chmod(entry.mode);
    await handle.utimes(mtimeOf(entry), mtimeOf(entry));
  } finally {
    await handle.close();
  }
}

function mtimeOf(entry: TreeEntry): number {
  // fs.utimes takes seconds as a number; microsecond precision is what Node keeps.
  return Number(BigInt(entry.mtimeNs) / 1000n) / 1e6;
}
