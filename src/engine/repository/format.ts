/**
 * The repository's on-disk format. docs/repository-format.md is the specification;
 * these types are its code form. Every structure below is stored encrypted except `config`,
 * the key slots and the subject tombstones (and a key slot or subject key object holds its key
 * only wrapped).
 */
import type { ChunkerParams } from '../chunker';
import type { Codec } from '../compression';
import type { KdfParams } from '../crypto/kdf';

/**
 * 2: names and symlink targets as exact bytes (`rawName`, `rawTarget`), backslashes allowed in
 * names.
 * 3: owners, atime, extended attributes (ACLs and capabilities included), hard links, sparse
 * files, FIFOs and devices, the source root's own metadata, and the problems a backup met.
 * Versions 1 and 2 are still read; see docs/repository-format.md.
 */
export const FORMAT_VERSION = 3;

/** `config`: plaintext, identifies the repository and fixes the chunker for deduplication. */
export interface RepositoryConfig {
  format: 'custodia-repository';
  version: number;
  id: string;
  createdAt: string;
  chunker: ChunkerParams;
}

/** `keys/<id>`: one key slot; the master key wrapped by a passphrase-derived key. */
export interface KeySlot {
  version: number;
  id: string;
  createdAt: string;
  hostname: string;
  kdf: KdfParams;
  wrappedMasterKey: string; // base64 AEAD box
}

export type BlobType = 'data' | 'tree';

/** One blob's place inside a pack; listed in the pack's own header and in index files. */
export interface BlobLocation {
  id: string;
  type: BlobType;
  /**
   * Key scope the blob is encrypted under: "repo", or `subject:<pseudonym>:<key id>` for a
   * data subject's blob (see subjectScope).
   */
  scope: string;
  offset: number;
  length: number;
  rawLength: number;
  codec: Codec;
}

/** The encrypted header at the end of every pack: enough to rebuild the index from packs alone. */
export interface PackHeader {
  version: number;
  blobs: BlobLocation[];
}

export interface PackRecord {
  id: string;
  size: number;
  blobs: BlobLocation[];
}

/** `index/<id>`: which blobs live in which packs. */
export interface IndexFile {
  version: number;
  packs: PackRecord[];
}

export type FileEntry = EntryMetadata & {
  type: 'file';
  /** The file's length, holes included. */
  size: number;
  inode: string;
  /** Chunk ids of the file's data, holes left out (so their lengths add up to size minus holes). */
  content: string[];
  /**
   * Format 3, only for a file with more than one link: the file system's device number. Files
   * of one snapshot with the same device and inode are one file, restored as hard links to it.
   */
  device?: string;
  /** Format 3: the file's link count when more than 1. */
  links?: number;
  /**
   * Format 3, only for a sparse file: its holes as [offset, length] pairs, sorted and apart,
   * inside `size`. The data between them is `content`; a restore leaves the holes unwritten.
   */
  holes?: [number, number][];
};

export type TreeEntry =
  | FileEntry
  | (EntryMetadata & { type: 'dir'; subtree: string })
  | (EntryMetadata & {
      type: 'symlink';
      /** The link's target; escaped when it is not UTF-8 (then `rawTarget` holds its bytes). */
      target: string;
      /** base64 of the target's exact bytes, present only when they are not valid UTF-8. */
      rawTarget?: string;
    })
  /** Format 3: a named pipe. */
  | (EntryMetadata & { type: 'fifo' })
  /** Format 3: a device node; `rdev` is Linux's dev_t as a decimal string (major and minor). */
  | (EntryMetadata & { type: 'chardev' | 'blockdev'; rdev: string });

export type EntryType = TreeEntry['type'];
export const ENTRY_TYPES: readonly EntryType[] = ['file', 'dir', 'symlink', 'fifo', 'chardev', 'blockdev'];

/** Format 3: one extended attribute, with its value's exact bytes. */
export interface ExtendedAttribute {
  /** Namespaced: `user.*`, `trusted.*`, `security.*` (capabilities), `system.posix_acl_*` (ACLs). */
  name: string;
  /** base64 of the value. */
  value: string;
}

export interface EntryMetadata {
  /** The name; escaped (`\xNN`) when it is not UTF-8, and then `rawName` holds its bytes. */
  name: string;
  /** base64 of the name's exact bytes, present only when they are not valid UTF-8 (format 2). */
  rawName?: string;
  /** Permission bits with setuid, setgid and sticky (st_mode & 07777). */
  mode: number;
  /** Nanoseconds since the epoch, as a decimal string (exceeds Number precision). */
  mtimeNs: string;
  /** Format 3: last access, as mtimeNs; not kept for folders (listing one changes it). */
  atimeNs?: string;
  /** Format 3: owner and group by number, and by name where the backup host could resolve them. */
  uid?: number;
  gid?: number;
  user?: string;
  group?: string;
  /** Format 3: extended attributes, sorted by name; absent when there are none. */
  xattrs?: ExtendedAttribute[];
}

/**
 * An entry that belongs to a data subject, stored in its parent tree in place of the real
 * entry. `box` is the real entry (name included) as JSON, sealed under the subject key; only
 * aggregate counts stay readable, so a restore can say what it skipped once the key is gone.
 */
export interface SealedEntry {
  type: 'sealed';
  /** The subject's pseudonym (never the external id). */
  subject: string;
  /** Which of the subject's keys sealed it (a subject erased and seen again gets a new key). */
  key: string;
  /** Regular files in the entry (1 for a file, all files below it for a directory). */
  files: number;
  /** Their total size in bytes. */
  bytes: number;
  /** base64 AEAD box of the real entry's JSON. */
  box: string;
}

/** What a tree blob holds: real entries, and sealed entries of data subjects. */
export type StoredEntry = TreeEntry | SealedEntry;

/**
 * A tree blob: one directory's entries, named ones sorted by name, then sealed ones sorted by
 * box. Its id hashes its children's ids.
 */
export interface Tree {
  entries: StoredEntry[];
}

export interface BackupStatistics {
  files: number;
  directories: number;
  symlinks: number;
  filesRead: number;
  filesUnchanged: number;
  bytesRead: number;
  totalBytes: number;
  newBytes: number;
  duplicateBytes: number;
  storedBytes: number;
  chunks: number;
  newChunks: number;
  durationMs: number;
  errors: number;
  /** Distinct data subjects whose entries the snapshot holds sealed (absent before subjects existed). */
  subjects?: number;
  /** Format 3: FIFOs and device nodes stored. */
  specialFiles?: number;
  /** Format 3: files stored as another link of a file already in the snapshot. */
  hardLinks?: number;
  /** Format 3: the problems the backup met, counted by reason (the paths are in `problems`). */
  problems?: ProblemCounts;
}

/**
 * Why a path is in a snapshot's problem list:
 * - `unreadable`: it could not be listed, stat'ed or read, and is not in the snapshot;
 * - `changed`: its size or mtime changed while it was read; the snapshot holds what was read;
 * - `socket`: sockets hold no data and cannot be restored; skipped;
 * - `metadata`: stored, but some of its metadata (extended attributes) could not be read.
 */
export type ProblemReason = 'unreadable' | 'changed' | 'socket' | 'metadata';
export const PROBLEM_REASONS: readonly ProblemReason[] = ['unreadable', 'changed', 'socket', 'metadata'];
export type ProblemCounts = Partial<Record<ProblemReason, number>>;

/**
 * Format 3: one problem the backup met. The snapshot is encrypted, but a path inside a data
 * subject's data would outlive the subject's erasure there, so such a problem keeps only the
 * subject and its reason in clear and seals its path and message under the subject's key.
 */
export type SnapshotProblem =
  | {
      reason: ProblemReason;
      /** '/'-separated below the source root, names that are not UTF-8 escaped. */
      path: string;
      message: string;
    }
  | {
      reason: ProblemReason;
      subject: string;
      key: string;
      /** base64 AEAD box of `{path, message}` JSON under the subject's entry key. */
      box: string;
    };

/** `snapshots/<id>`: one completed backup. */
export interface Snapshot {
  version: number;
  time: string;
  hostname: string;
  /** Absolute path that was backed up; the root tree holds its contents. */
  path: string;
  sourceType: 'dir' | 'file';
  tags: string[];
  parent: string | null;
  tree: string;
  /** Keyed hash over the whole tree and every chunk id it references (the root tree's id). */
  merkleRoot: string;
  statistics: BackupStatistics;
  /** The subject rules the backup applied (absent when it had none). */
  subjectRules?: string[];
  /** Format 3: the source root's own metadata, which a restore gives the target folder. */
  root?: EntryMetadata;
  /** Format 3: what the backup skipped, or stored as it found it changing (absent when nothing). */
  problems?: SnapshotProblem[];
}

export const PACK_MAGIC = Buffer.from('CUSTPK01', 'ascii');
/** Trailer: header length (uint32 LE) then the magic. */
export const PACK_TRAILER_BYTES = 4 + PACK_MAGIC.length;

export const AAD = {
  keySlot: 'custodia:key-slot',
  packHeader: 'custodia:pack-header',
  index: 'custodia:index',
  snapshot: 'custodia:snapshot',
  /** Bound to the lock's id, so a lock cannot be passed off under another name. */
  lock: (id: string) => `custodia:lock:${id}`,
  blob: (type: BlobType, scope: string, id: string) => `custodia:blob:${type}:${scope}:${id}`,
  subjectKey: (pseudonym: string, keyId: string) => `custodia:subject-key:${pseudonym}:${keyId}`,
  sealedEntry: (pseudonym: string, keyId: string, files: number, bytes: number) =>
    `custodia:sealed-entry:${pseudonym}:${keyId}:${files}:${bytes}`,
  sealedProblem: (pseudonym: string, keyId: string, reason: string) => `custodia:sealed-problem:${pseudonym}:${keyId}:${reason}`,
};

/** The repository's own key scope: blobs that belong to no data subject. */
export const REPO_SCOPE = 'repo';
const SUBJECT_SCOPE_PREFIX = 'subject:';

/** A pseudonym: what the caller's pseudonymisation yields (e.g. hex HMAC); safe in object keys. */
export const PSEUDONYM_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;
/** A subject key id: 16 random bytes, hex. */
export const SUBJECT_KEY_ID_PATTERN = /^[0-9a-f]{32}$/;

/** The key scope of the blobs of one data subject under one of its keys. */
export function subjectScope(pseudonym: string, keyId: string): string {
  return `${SUBJECT_SCOPE_PREFIX}${pseudonym}:${keyId}`;
}

/** The subject and key of a subject scope; null for any other scope ("repo"). */
export function parseSubjectScope(scope: string): { pseudonym: string; keyId: string } | null {
  if (!scope.startsWith(SUBJECT_SCOPE_PREFIX)) return null;
  const [pseudonym, keyId, ...rest] = scope.slice(SUBJECT_SCOPE_PREFIX.length).split(':');
  if (rest.length > 0 || !PSEUDONYM_PATTERN.test(pseudonym ?? '') || !SUBJECT_KEY_ID_PATTERN.test(keyId ?? '')) return null;
  return { pseudonym, keyId };
}

export const Keys = {
  config: 'config',
  /** Written by the service: an HMAC check value of the pseudonymisation secret (not the secret). */
  pseudonymCheck: 'pseudonym-check',
  key: (id: string) => `keys/${id}`,
  pack: (id: string) => `data/${id.slice(0, 2)}/${id}`,
  index: (id: string) => `index/${id}`,
  snapshot: (id: string) => `snapshots/${id}`,
  lock: (id: string) => `locks/${id}`,
  subjectKey: (pseudonym: string, keyId: string) => `subject-keys/${pseudonym}/${keyId}`,
  subjectKeys: (pseudonym?: string) => (pseudonym ? `subject-keys/${pseudonym}/` : 'subject-keys/'),
  subjectTombstone: (pseudonym: string, keyId: string) => `subject-tombstones/${pseudonym}/${keyId}`,
  subjectTombstones: (pseudonym?: string) => (pseudonym ? `subject-tombstones/${pseudonym}/` : 'subject-tombstones/'),
};

/** `subject-tombstones/<pseudonym>/<key id>`: plaintext proof that a subject key was destroyed on purpose. */
export interface SubjectTombstone {
  version: number;
  pseudonym: string;
  keyId: string;
  shreddedAt: string;
}
