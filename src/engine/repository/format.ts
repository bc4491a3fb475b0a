/**
 * The repository's on-disk format, version 1. docs/repository-format.md is the specification;
 * these types are its code form. Every structure below is stored encrypted except `config`
 * and the key slots.
 */
import type { ChunkerParams } from '../chunker';
import type { Codec } from '../compression';
import type { KdfParams } from '../crypto/kdf';

export const FORMAT_VERSION = 1;

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
  /** Key scope the blob is encrypted under: "repo" for now, a subject's scope later. */
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

export type TreeEntry =
  | (EntryMetadata & { type: 'file'; size: number; inode: string; content: string[] })
  | (EntryMetadata & { type: 'dir'; subtree: string })
  | (EntryMetadata & { type: 'symlink'; target: string });

export interface EntryMetadata {
  name: string;
  mode: number;
  /** Nanoseconds since the epoch, as a decimal string (exceeds Number precision). */
  mtimeNs: string;
}

/** A tree blob: one directory's entries, sorted by name. Its id hashes its children's ids. */
export interface Tree {
  entries: TreeEntry[];
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
}

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
}

export const PACK_MAGIC = Buffer.from('CUSTPK01', 'ascii');
/** Trailer: header length (uint32 LE) then the magic. */
export const PACK_TRAILER_BYTES = 4 + PACK_MAGIC.length;

export const AAD = {
  keySlot: 'custodia:key-slot',
  packHeader: 'custodia:pack-header',
  index: 'custodia:index',
  snapshot: 'custodia:snapshot',
  blob: (type: BlobType, scope: string, id: string) => `custodia:blob:${type}:${scope}:${id}`,
};

export const Keys = {
  config: 'config',
  key: (id: string) => `keys/${id}`,
  pack: (id: string) => `data/${id.slice(0, 2)}/${id}`,
  index: (id: string) => `index/${id}`,
  snapshot: (id: string) => `snapshots/${id}`,
};
