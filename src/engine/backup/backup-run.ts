import { promises as fs } from 'node:fs';
import { EngineError } from '../errors';
import { ScopeKeys } from '../crypto/scope-keys';
import { SubjectKey } from '../crypto/subject-key';
import { assertLegalName, displayName, nameKey, storedName } from '../file-names';
import { EntryMetadata, FileEntry, SealedEntry, SnapshotProblem, StoredEntry, Tree, TreeEntry } from '../repository/format';
import { describe, Repository } from '../repository/repository';
import { SubjectKeyRing } from '../subjects/key-ring';
import { assertPseudonym, Pseudonymiser } from '../subjects/pseudonym';
import { EntryCounts, isSealedEntry, openSealedEntry, orderEntries, sealEntry } from '../subjects/sealed-entry';
import { SubjectRules } from '../subjects/subject-rules';
import { BlobSaver } from './blob-saver';
import { BackupProblem, storeProblem } from './problems';
import { MetadataReader } from './read-metadata';
import { ScannedEntry } from './scanner';
import { BackupOptions, BackupSubjectTotals } from './backup-types';
import { FileContent, readFileContent } from './read-content';

/** Where the walk is: the folder's path below the source root, and whose keys its blobs take. */
export interface WalkContext {
  parts: string[];
  scope: ScopeKeys;
  /** Set inside a data subject's entry: everything below belongs to that subject. */
  subject: SubjectKey | null;
  /** Files and bytes below the current subject root (the clear counts of its sealed entry). */
  tally: EntryCounts | null;
}

/** A folder's entries in the parent snapshot: named ones, and sealed ones by subject (unopened). */
interface PreviousEntries {
  named: Map<string, TreeEntry>;
  sealed: Map<string, SealedEntry[]>;
}

type Meta = EntryMetadata;

/** A file already stored in this backup that other links of the same inode reuse. */
interface LinkedFile {
  size: number;
  mtimeNs: string;
  content: string[];
  holes?: [number, number][];
}

/** One backup's walk over the scanned tree: the entries it stores, its statistics and its problems. */
export class BackupRun {
  /** What the backup met, as the caller sees it (paths in clear). */
  readonly problems: BackupProblem[] = [];
  /** The same, as the snapshot stores it (paths in data subjects' data sealed). */
  readonly storedProblems: SnapshotProblem[] = [];
  readonly statistics = {
    files: 0,
    directories: 0,
    symlinks: 0,
    specialFiles: 0,
    hardLinks: 0,
    filesRead: 0,
    filesUnchanged: 0,
    bytesRead: 0,
    totalBytes: 0,
    duplicateBytes: 0,
    chunks: 0,
  };
  private readonly metadata = new MetadataReader();
  /** Multiply linked files stored so far, by device, inode and key scope. */
  private readonly linked = new Map<string, LinkedFile>();
  readonly subjectsSeen = new Set<string>();
  /** Files and bytes stored per subject (a subject may own several entries). */
  private readonly perSubject = new Map<string, { files: number; bytes: number }>();
  /** Subjects found shredded in the parent snapshot whose data is in the source again. */
  readonly reappeared = new Set<string>();
  private readonly keys: SubjectKeyRing;
  private readonly pseudonyms = new Map<string, string>();
  private filesDone = 0;
  private bytesDone = 0;
  /** Files are read one after another, so one chunking buffer serves them all. */
  private chunkBuffer: Buffer | null = null;

  constructor(
    private readonly repository: Repository,
    readonly saver: BlobSaver,
    private readonly options: BackupOptions,
    private readonly totalFiles: number,
    private readonly totalBytesEstimate: number,
    private readonly subjects: { rules: SubjectRules; pseudonymise: Pseudonymiser } | null,
  ) {
    this.keys = repository.subjectKeys();
  }

  /**
   * Records a problem. One inside a data subject's data (by the walk's context, or by the
   * subject rules for a path the scan could not even stat) is sealed under the subject's key.
   */
  async recordProblem(problem: BackupProblem, subject: SubjectKey | null): Promise<void> {
    let key = subject;
    if (key === null && this.subjects) {
      const match = this.subjects.rules.subjectOf(problem.path);
      if (match) key = await this.keys.active(this.pseudonymOf(match.externalId));
    }
    this.problems.push(problem);
    this.storedProblems.push(storeProblem(problem, key));
  }

  /** The entry's metadata; what of it could not be read is recorded as a `metadata` problem. */
  async metadataOf(entry: ScannedEntry, subject: SubjectKey | null): Promise<Omit<Meta, 'name' | 'rawName'>> {
    const { metadata, problem } = this.metadata.read(entry.absolutePath, entry.stats);
    if (problem !== undefined) await this.recordProblem({ reason: 'metadata', path: entry.relativePath || '.', message: problem }, subject);
    return metadata;
  }

  subjectTotals(): BackupSubjectTotals[] {
    return [...this.perSubject.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([pseudonym, counts]) => ({ pseudonym, ...counts, keyCreated: this.keys.created.has(pseudonym) }));
  }

  async previousEntries(treeId: string | null): Promise<PreviousEntries> {
    const previous: PreviousEntries = { named: new Map(), sealed: new Map() };
    if (!treeId) return previous;
    let tree;
    try {
      tree = await this.repository.readTree(treeId, this.keys);
    } catch {
      // An unreadable parent only costs re-reading the files; the new snapshot is still complete.
      return previous;
    }
    for (const entry of tree.entries) {
      if (!isSealedEntry(entry)) previous.named.set(nameKey(entry), entry);
      else if (this.subjects) previous.sealed.set(entry.subject, [...(previous.sealed.get(entry.subject) ?? []), entry]);
    }
    return previous;
  }

  /** `context.parts` is the directory's own path below the source root. */
  async saveDirectory(directory: ScannedEntry, parentTreeId: string | null, context: WalkContext): Promise<string> {
    const previous = await this.previousEntries(parentTreeId);
    const entries: StoredEntry[] = [];
    const names = new Set<string>();
    for (const child of directory.children) {
      // Never write a tree a restore would refuse (the file system cannot hand out such names).
      assertLegalName(child.stored, ` in "${context.parts.join('/')}"`);
      if (names.has(nameKey(child.stored))) throw new EngineError('UNSAFE_PATH', `"${child.stored.name}" is listed twice in one folder`);
      names.add(nameKey(child.stored));
      const entry = await this.entryFor(child, previous, context);
      if (entry) entries.push(entry);
    }
    return this.saveTree({ entries: orderEntries(entries) }, context.scope);
  }

  async saveTree(tree: Tree, scope: ScopeKeys): Promise<string> {
    const { id } = await this.saver.save('tree', Buffer.from(JSON.stringify(tree)), scope);
    return id;
  }

  /** `context` is the containing directory's. */
  async entryFor(entry: ScannedEntry, previous: PreviousEntries, context: WalkContext): Promise<StoredEntry | null> {
    this.throwIfCancelled();
    const parts = [...context.parts, entry.stored.name];
    if (this.subjects && !context.subject) {
      const match = this.subjects.rules.matchRoot(parts);
      if (match) return this.subjectEntry(entry, previous, parts, match.externalId);
    }
    return this.plainEntry(entry, previous.named.get(nameKey(entry.stored)), context, parts);
  }

  /**
   * A subject's root entry: everything in it is stored under the subject's key, and the entry
   * itself (whose name is the external id) is sealed. When the parent snapshot holds the same
   * entry sealed under the same key, unchanged, its box is reused, so an unchanged subject
   * leaves the tree (and the Merkle root) unchanged too.
   */
  private async subjectEntry(
    entry: ScannedEntry,
    previous: PreviousEntries,
    parts: string[],
    externalId: string,
  ): Promise<SealedEntry | null> {
    const pseudonym = this.pseudonymOf(externalId);
    const key = await this.keys.active(pseudonym);
    let before: { entry: TreeEntry; sealed: SealedEntry; plaintext: string } | undefined;
    for (const candidate of previous.sealed.get(pseudonym) ?? []) {
      if (candidate.key !== key.keyId) {
        if ((await this.keys.lookup(pseudonym, candidate.key).catch(() => null)) === 'shredded') this.reappeared.add(pseudonym);
        continue;
      }
      const opened = await openSealedEntry(this.keys, candidate);
      if (opened.status === 'open' && nameKey(opened.entry) === nameKey(entry.stored)) {
        before = { entry: opened.entry, sealed: candidate, plaintext: opened.plaintext };
        break;
      }
    }
    this.subjectsSeen.add(pseudonym);
    const context: WalkContext = { parts, scope: key, subject: key, tally: { files: 0, bytes: 0 } };
    const real = await this.plainEntry(entry, before?.entry, context, parts);
    if (!real) return null;
    const counts = { files: context.tally?.files ?? 0, bytes: context.tally?.bytes ?? 0 };
    const total = this.perSubject.get(pseudonym) ?? { files: 0, bytes: 0 };
    this.perSubject.set(pseudonym, { files: total.files + counts.files, bytes: total.bytes + counts.bytes });
    if (
      before &&
      before.plaintext === JSON.stringify(real) &&
      before.sealed.files === counts.files &&
      before.sealed.bytes === counts.bytes
    ) {
      return before.sealed;
    }
    return sealEntry(key, real, counts).sealed;
  }

  private pseudonymOf(externalId: string): string {
    let pseudonym = this.pseudonyms.get(externalId);
    if (pseudonym === undefined) {
      pseudonym = this.subjects?.pseudonymise(externalId);
      assertPseudonym(pseudonym);
      this.pseudonyms.set(externalId, pseudonym);
    }
    return pseudonym;
  }

  /** `context` is the containing directory's, or the subject's for a subject root; `parts` the entry's path. */
  private async plainEntry(
    entry: ScannedEntry,
    before: TreeEntry | undefined,
    context: WalkContext,
    parts: string[],
  ): Promise<TreeEntry | null> {
    const meta: Meta = { ...entry.stored, ...(await this.metadataOf(entry, context.subject)) };
    switch (entry.kind) {
      case 'dir': {
        this.statistics.directories++;
        const subtree = await this.saveDirectory(entry, before?.type === 'dir' ? before.subtree : null, { ...context, parts });
        return { ...meta, type: 'dir', subtree };
      }
      case 'symlink': {
        this.statistics.symlinks++;
        try {
          const target = storedName(await fs.readlink(entry.absolutePath, { encoding: 'buffer' }));
          return { ...meta, type: 'symlink', target: target.name, ...(target.rawName ? { rawTarget: target.rawName } : {}) };
        } catch (error) {
          await this.recordProblem(
            { reason: 'unreadable', path: entry.relativePath, message: `cannot read symlink: ${describe(error)}` },
            context.subject,
          );
          return null;
        }
      }
      case 'fifo':
        this.statistics.specialFiles++;
        return { ...meta, type: 'fifo' };
      case 'chardev':
      case 'blockdev':
        this.statistics.specialFiles++;
        return { ...meta, type: entry.kind, rdev: entry.stats.rdev.toString() };
      case 'file': {
        const file = await this.fileEntry(entry, meta, before, context);
        if (file && context.tally) {
          context.tally.files++;
          context.tally.bytes += file.size;
        }
        return file;
      }
      case 'socket':
        // A socket is an endpoint of a running program, not data: nothing could restore it.
        await this.recordProblem(
          { reason: 'socket', path: entry.relativePath, message: 'a socket holds no data and cannot be restored' },
          context.subject,
        );
        return null;
    }
  }

  private async fileEntry(entry: ScannedEntry, meta: Meta, before: TreeEntry | undefined, context: WalkContext): Promise<FileEntry | null> {
    const size = Number(entry.stats.size);
    const inode = entry.stats.ino.toString();
    const links = Number(entry.stats.nlink);
    const linkFields = links > 1 ? { device: entry.stats.dev.toString(), links } : {};
    const linkKey = links > 1 ? `${entry.stats.dev}:${inode}:${context.scope.scope}` : null;
    this.report(displayName(entry.absolutePath));
    const stored = (file: LinkedFile, unchanged: boolean): FileEntry => {
      this.statistics.files++;
      if (unchanged) this.statistics.filesUnchanged++;
      this.statistics.totalBytes += file.size;
      this.statistics.chunks += file.content.length;
      this.fileDone(file.size);
      return {
        ...meta,
        type: 'file',
        size: file.size,
        inode,
        content: file.content,
        ...linkFields,
        ...(file.holes ? { holes: file.holes } : {}),
      };
    };
    // Another link of a file this backup stored already: the same content, read once.
    const sibling = linkKey !== null ? this.linked.get(linkKey) : undefined;
    if (sibling && sibling.size === size && sibling.mtimeNs === meta.mtimeNs) {
      this.statistics.hardLinks++;
      return stored(sibling, false);
    }
    if (
      !this.options.full &&
      before?.type === 'file' &&
      before.size === size &&
      before.mtimeNs === meta.mtimeNs &&
      before.inode === inode &&
      before.content.every((id) => this.saver.isKnown(id))
    ) {
      const file = { size, mtimeNs: meta.mtimeNs, content: before.content, ...(before.holes ? { holes: before.holes } : {}) };
      if (linkKey !== null) this.linked.set(linkKey, file);
      return stored(file, true);
    }
    try {
      const { content, bytes, holes, changed } = await this.readContent(entry, context.scope, size);
      this.statistics.files++;
      this.statistics.filesRead++;
      this.statistics.totalBytes += bytes;
      this.fileDone(0);
      if (changed) {
        await this.recordProblem(
          { reason: 'changed', path: entry.relativePath, message: `changed while it was read (${changed})` },
          context.subject,
        );
      } else if (linkKey !== null) {
        this.linked.set(linkKey, { size: bytes, mtimeNs: meta.mtimeNs, content, ...(holes ? { holes } : {}) });
      }
      return { ...meta, type: 'file', size: bytes, inode, content, ...linkFields, ...(holes ? { holes } : {}) };
    } catch (error) {
      if (error instanceof EngineError) throw error;
      await this.recordProblem(
        { reason: 'unreadable', path: entry.relativePath, message: `cannot read file: ${describe(error)}` },
        context.subject,
      );
      this.fileDone(0);
      return null;
    }
  }

  /** Reads a file's content into chunks (see readFileContent), counting what it reads. */
  private readContent(entry: ScannedEntry, scope: ScopeKeys, expectedSize: number): Promise<FileContent> {
    return readFileContent(entry, scope, expectedSize, {
      chunker: this.repository.chunker,
      saver: this.saver,
      workBuffer: () => this.workBuffer(),
      onChunk: (length, isNew, file) => this.countChunk(length, isNew, file),
      onHoles: (bytes) => (this.bytesDone += bytes),
      throwIfCancelled: () => this.throwIfCancelled(),
    });
  }

  throwIfCancelled(): void {
    if (this.options.signal?.aborted) throw new EngineError('CANCELLED', 'the backup was cancelled; no snapshot was written');
  }

  private countChunk(length: number, isNew: boolean, file: string): void {
    this.statistics.bytesRead += length;
    this.statistics.chunks++;
    if (!isNew) this.statistics.duplicateBytes += length;
    this.bytesDone += length;
    this.report(file);
  }

  private workBuffer(): Buffer {
    this.chunkBuffer ??= Buffer.allocUnsafe(this.repository.chunker.params.maxSize * 2);
    return this.chunkBuffer;
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
