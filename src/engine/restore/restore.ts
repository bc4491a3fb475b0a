import { EngineError } from '../errors';
import { FileName, fsName } from '../file-names';
import { EntryMetadata, FileEntry } from '../repository/format';
import { describe, Repository } from '../repository/repository';
import { SubjectKeyRing } from '../subjects/key-ring';
import { assertPseudonym } from '../subjects/pseudonym';
import { ErasedCounts, planRestore } from './plan';
import { AppliedMetadata } from './apply-metadata';
import { ConfinedTarget } from './confined-target';
import { dataLength } from './entry-rules';
import { FileWriter } from './file-writer';
import { OwnerResolver } from './owners';

/** Files up to this size are gathered in memory and written in one synchronous go. */
const SMALL_FILE_BYTES = 4 * 1024 * 1024;
/** Attribute namespaces only root may set (trusted.*; security.* holds capabilities and labels). */
const PRIVILEGED_XATTR = /^(trusted|security)\./;

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
  /** Restore owners by the stored numbers, ignoring user and group names (tar's --numeric-owner). */
  numericOwner?: boolean;
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
  /** FIFOs and device nodes. */
  specialFiles: number;
  /** Files restored as another link of a file restored before. */
  hardLinks: number;
  bytes: number;
  /** Entries that could not be restored. */
  errors: { path: string; message: string }[];
  /**
   * Entries restored without some of their metadata (an owner, an attribute the target's file
   * system refuses, say): present, but not exactly as backed up.
   */
  metadataErrors: { path: string; message: string }[];
  /** What the restore did not do by design, such as owners when not run as root. */
  warnings: string[];
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
  const result: RestoreResult = {
    snapshotId: id,
    files: 0,
    directories: 0,
    symlinks: 0,
    specialFiles: 0,
    hardLinks: 0,
    bytes: 0,
    errors: [...errors],
    metadataErrors: [],
    warnings: [],
    skippedErased,
  };
  const metadata = new MetadataPolicy(new OwnerResolver(options.numericOwner ?? false));
  /** The first restored file of each hard-link group (device and inode), by its names. */
  const linkGroups = new Map<string, FileName[]>();
  try {
    // The target takes the snapshot root's own metadata, when the restore is of the whole snapshot.
    if (snapshot.root && (options.include ?? []).length === 0 && options.onlySubject === undefined) {
      target.setTargetMetadata(metadata.of(snapshot.root));
    }
    for (const { relativePath, names: parts, entry } of plan) {
      try {
        if (entry.type === 'dir') {
          target.makeFolder(parts, metadata.of(entry));
          result.directories++;
        } else if (entry.type === 'symlink') {
          target.symlink(parts, fsName({ name: entry.target, rawName: entry.rawTarget }), metadata.of(entry));
          result.symlinks++;
        } else if (entry.type === 'fifo') {
          target.special(parts, 'fifo', 0, metadata.of(entry));
          result.specialFiles++;
        } else if (entry.type === 'chardev' || entry.type === 'blockdev') {
          // Only root may create device nodes; said per device, as the entry is missing after all.
          if (!metadata.owners.restoresOwners) throw new Error('a device node can only be created by root; restore as root to recreate it');
          target.special(parts, entry.type, Number(entry.rdev), metadata.of(entry));
          result.specialFiles++;
        } else if (entry.type === 'file') {
          const group =
            entry.links !== undefined && entry.links > 1 && entry.device !== undefined ? `${entry.device}:${entry.inode}` : null;
          const first = group !== null ? linkGroups.get(group) : undefined;
          if (first) {
            target.hardLink(parts, first);
            result.hardLinks++;
            continue;
          }
          progress.currentFile = relativePath;
          const onBytes = (bytes: number) => {
            progress.bytesDone += bytes;
            options.onProgress?.({ ...progress });
          };
          await restoreFile(repository, keys, target, parts, entry, metadata.of(entry), onBytes);
          if (group !== null) linkGroups.set(group, parts);
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
    // Folder metadata is applied as the walk leaves each folder, the rest here.
    target.close();
  }
  result.metadataErrors.push(...target.metadataProblems);
  result.warnings.push(...metadata.warnings());
  return result;
}

/**
 * What each restored entry gets of its stored metadata on this machine. Owners, and with them
 * setuid and setgid bits, need root; so do trusted.* and security.* attributes. What is left
 * out is said once, in the restore's warnings, not per file.
 */
class MetadataPolicy {
  private ownersLeftOut = 0;
  private setIdDropped = 0;
  private xattrsLeftOut = 0;

  constructor(readonly owners: OwnerResolver) {}

  of(entry: EntryMetadata): AppliedMetadata {
    const owner = this.owners.ownerOf(entry);
    if (owner === null && entry.uid !== undefined) this.ownersLeftOut++;
    // Setuid and setgid are kept only with the owner they were set for: a file of someone else
    // in the snapshot would otherwise come back as a setuid binary of whoever runs the restore.
    let mode = entry.mode;
    if (owner === null && (mode & 0o6000) !== 0) {
      mode &= ~0o6000;
      this.setIdDropped++;
    }
    let xattrs = (entry.xattrs ?? []).map(({ name, value }) => ({ name, value: Buffer.from(value, 'base64') }));
    if (!this.owners.restoresOwners) {
      const allowed = xattrs.filter(({ name }) => !PRIVILEGED_XATTR.test(name));
      this.xattrsLeftOut += xattrs.length - allowed.length;
      xattrs = allowed;
    }
    const mtimeNs = BigInt(entry.mtimeNs);
    return { mode, mtimeNs, atimeNs: entry.atimeNs !== undefined ? BigInt(entry.atimeNs) : mtimeNs, owner, xattrs };
  }

  warnings(): string[] {
    const warnings: string[] = [];
    if (this.ownersLeftOut > 0)
      warnings.push(
        `owners of ${this.ownersLeftOut} entr${this.ownersLeftOut === 1 ? 'y were' : 'ies were'} not restored: only root can restore owners`,
      );
    if (this.setIdDropped > 0)
      warnings.push(
        `setuid/setgid bits of ${this.setIdDropped} entr${this.setIdDropped === 1 ? 'y were' : 'ies were'} dropped, as their owners were not restored`,
      );
    if (this.xattrsLeftOut > 0)
      warnings.push(`${this.xattrsLeftOut} trusted.* or security.* extended attribute(s) were not restored: only root can set them`);
    return warnings;
  }
}

async function restoreFile(
  repository: Repository,
  keys: SubjectKeyRing,
  target: ConfinedTarget,
  parts: FileName[],
  entry: FileEntry,
  metadata: AppliedMetadata,
  onBytes: (bytes: number) => void,
): Promise<void> {
  if (dataLength(entry) <= SMALL_FILE_BYTES) {
    // Every blob is read (authenticated, hash-checked) before the file is created at all, and
    // written synchronously: for the many small files of a typical tree, thread-pool round trips
    // would cost more than the writing itself.
    const blobs: Buffer[] = [];
    for (const blobId of entry.content) blobs.push(await repository.readBlob(blobId, keys));
    await target.writeFile(
      parts,
      (fd) => {
        const writer = new FileWriter(fd, entry.size, entry.holes);
        for (const blob of blobs) writer.writeSync(blob);
        writer.finish();
      },
      metadata,
    );
    onBytes(entry.size);
    return;
  }
  await target.writeFile(
    parts,
    async (fd) => {
      const writer = new FileWriter(fd, entry.size, entry.holes);
      for (const blobId of entry.content) {
        const data = await repository.readBlob(blobId, keys);
        await writer.write(data);
        onBytes(data.length);
      }
      writer.finish();
    },
    metadata,
  );
}
