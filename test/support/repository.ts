import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { FsObjectStore, Repository, Snapshot, TreeEntry } from '../../src/engine';
import { FORMAT_VERSION, Keys } from '../../src/engine/repository/format';
import { DEFAULT_PASSPHRASE } from './cli';

/** Cheap scrypt for tests: the default cost (2^17) takes about half a second per derivation. */
export const FAST_KDF = { N: 1024, r: 8, p: 1 };

export async function initRepository(repoPath: string, passphrase = DEFAULT_PASSPHRASE): Promise<Repository> {
  return Repository.init(new FsObjectStore(repoPath), passphrase, { kdfCost: FAST_KDF });
}

/** Opens the repository afresh, as a new process would. */
export async function openRepository(repoPath: string, passphrase = DEFAULT_PASSPHRASE): Promise<Repository> {
  return Repository.open(new FsObjectStore(repoPath), passphrase);
}

/** The tree entry at a '/'-separated path inside a snapshot's root tree. */
export async function findEntry(repository: Repository, rootTree: string, relativePath: string): Promise<TreeEntry> {
  let treeId = rootTree;
  const parts = relativePath.split('/');
  for (let i = 0; ; i++) {
    const entry = (await repository.readTree(treeId)).entries.find(
      (candidate): candidate is TreeEntry => candidate.type !== 'sealed' && candidate.name === parts[i],
    );
    if (!entry) throw new Error(`${relativePath} is not in the snapshot`);
    if (i === parts.length - 1) return entry;
    if (entry.type !== 'dir') throw new Error(`${parts.slice(0, i + 1).join('/')} is not a directory`);
    treeId = entry.subtree;
  }
}

/** The on-disk file of the pack holding blob `blobId`, and where the blob lies in it. */
export function locateBlob(repository: Repository, repoPath: string, blobId: string) {
  const indexed = repository.index.lookup(blobId);
  if (!indexed) throw new Error(`blob ${blobId} is not in the index`);
  const key = Keys.pack(indexed.packId);
  return { key, file: path.join(repoPath, ...key.split('/')), offset: indexed.location.offset, length: indexed.location.length };
}

/** Inverts every bit of one byte of a file in place. */
export async function flipByte(file: string, offset: number): Promise<void> {
  const handle = await fs.open(file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, offset);
    byte[0] ^= 0xff;
    await handle.write(byte, 0, 1, offset);
  } finally {
    await handle.close();
  }
}

/** Every pack file of a repository, as its key `data/xx/<id>`. */
export async function listPackKeys(repoPath: string): Promise<string[]> {
  return (await new FsObjectStore(repoPath).list('data/')).map((object) => object.key);
}

/** Statistics of a snapshot written by hand (crafted or damaged trees): all zero. */
export const ZERO_STATISTICS: Snapshot['statistics'] = {
  files: 0,
  directories: 0,
  symlinks: 0,
  filesRead: 0,
  filesUnchanged: 0,
  bytesRead: 0,
  totalBytes: 0,
  newBytes: 0,
  duplicateBytes: 0,
  storedBytes: 0,
  chunks: 0,
  newChunks: 0,
  durationMs: 0,
  errors: 0,
};

/** Saves a snapshot of a tree written by hand (a crafted or damaged manifest); returns its id. */
export function saveCraftedSnapshot(repository: Repository, tree: string): Promise<string> {
  return repository.saveSnapshot({
    version: FORMAT_VERSION,
    time: new Date().toISOString(),
    hostname: 'crafted',
    path: '/crafted',
    sourceType: 'dir',
    tags: [],
    parent: null,
    tree,
    merkleRoot: tree,
    statistics: ZERO_STATISTICS,
  });
}
