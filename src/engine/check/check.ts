import { EngineError } from '../errors';
import { BlobLocation, Keys, TreeEntry } from '../repository/format';
import { readPackHeader, sha256Hex } from '../repository/pack-file';
import { describe, Repository, StoredSnapshot } from '../repository/repository';
import { ObjectNotFoundError } from '../storage/object-store';

export interface CheckOptions {
  /** Decrypt and hash-check every blob. */
  readData?: boolean;
  /** Read only slice n of m (1-based), so verification can be spread over runs or workers. */
  readDataSubset?: { n: number; m: number };
  onProgress?: (progress: { packsDone: number; totalPacks: number }) => void;
}

export interface CheckProblem {
  kind: 'index-damaged' | 'snapshot-damaged' | 'tree-damaged' | 'blob-missing' | 'pack-missing' | 'pack-size' | 'pack-damaged';
  object: string;
  message: string;
  /** Snapshots and files that cannot be fully restored because of this problem. */
  affected?: { snapshot: string; paths: string[] }[];
}

export interface CheckResult {
  ok: boolean;
  snapshots: number;
  packs: number;
  blobs: number;
  packsRead: number;
  blobsRead: number;
  errors: CheckProblem[];
  /** Harmless findings: unreferenced packs or temporary files left by an interrupted backup. */
  warnings: string[];
}

/**
 * Structure check: every blob a snapshot references is in the index and its pack exists with
 * the size the index records. With read-data, every pack (or one slice of them) is read whole:
 * its SHA-256 must match its name, its header must decrypt, and every blob must authenticate
 * and hash to its id. Damage is reported with the snapshots and files it affects.
 */
export async function check(repository: Repository, options: CheckOptions = {}): Promise<CheckResult> {
  const result: CheckResult = { ok: true, snapshots: 0, packs: 0, blobs: 0, packsRead: 0, blobsRead: 0, errors: [], warnings: [] };
  await repository.loadIndex((key, reason) =>
    result.errors.push({
      kind: 'index-damaged',
      object: key,
      message: `index file ${key} is damaged (${reason}); run "custodia index rebuild"`,
    }),
  );
  const snapshots = await repository.listSnapshots((id, error) =>
    result.errors.push({ kind: 'snapshot-damaged', object: Keys.snapshot(id), message: error.message }),
  );
  result.snapshots = snapshots.length;

  const stored = new Map((await repository.store.list('data/')).map((object) => [object.key.split('/').pop() ?? '', object.size]));
  const indexed = repository.index.allPacks();
  result.packs = stored.size;
  result.blobs = repository.index.blobCount;
  const missingPacks = new Set<string>();
  for (const pack of indexed) {
    const size = stored.get(pack.id);
    if (size === undefined) missingPacks.add(pack.id);
    else if (size !== pack.size) {
      result.errors.push({
        kind: 'pack-size',
        object: Keys.pack(pack.id),
        message: `pack ${Keys.pack(pack.id)} has ${size} bytes, the index says ${pack.size}`,
      });
    }
  }
  const unindexed = [...stored.keys()].filter((id) => !repository.index.pack(id));
  if (unindexed.length > 0) {
    result.warnings.push(
      `${unindexed.length} pack(s) are in no index (left by an interrupted backup); "custodia index rebuild" adopts them`,
    );
  }
  const leftovers = await repository.store.listLeftovers();
  if (leftovers.length > 0) result.warnings.push(`${leftovers.length} temporary file(s) left by an interrupted write`);

  const references = new ReferenceMap();
  for (const stored of snapshots) await references.collect(repository, stored, result);

  for (const [blobId, users] of references.blobs) {
    const entry = repository.index.lookup(blobId);
    if (!entry) {
      result.errors.push({
        kind: 'blob-missing',
        object: blobId,
        message: `blob ${blobId} is referenced but in no index`,
        affected: users.summary(),
      });
    }
  }
  for (const packId of missingPacks) {
    result.errors.push({
      kind: 'pack-missing',
      object: Keys.pack(packId),
      message: `pack ${Keys.pack(packId)} is missing`,
      affected: references.affectedBy(repository.index.pack(packId)?.blobs ?? []),
    });
  }

  if (options.readData || options.readDataSubset) {
    const subset = options.readDataSubset;
    const toRead = [...stored.keys()].filter((id) => !subset || inSlice(id, subset.n, subset.m)).sort();
    for (const packId of toRead) {
      await readPack(repository, packId, references, result);
      result.packsRead++;
      options.onProgress?.({ packsDone: result.packsRead, totalPacks: toRead.length });
    }
  }
  result.ok = result.errors.length === 0;
  return result;
}

/** A pack belongs to slice n of m by the first 32 bits of its id: stable as packs are added. */
export function inSlice(packId: string, n: number, m: number): boolean {
  return parseInt(packId.slice(0, 8), 16) % m === n - 1;
}

async function readPack(repository: Repository, packId: string, references: ReferenceMap, result: CheckResult): Promise<void> {
  const key = Keys.pack(packId);
  const indexed = repository.index.pack(packId)?.blobs ?? [];
  const report = (message: string, blobs: BlobLocation[]) =>
    result.errors.push({ kind: 'pack-damaged', object: key, message, affected: references.affectedBy(blobs) });
  let bytes: Buffer;
  try {
    bytes = await repository.store.get(key);
  } catch (error) {
    if (error instanceof ObjectNotFoundError) return; // reported by the structure check
    throw error;
  }
  const hashMatches = sha256Hex(bytes) === packId;
  let blobs: BlobLocation[];
  try {
    blobs = readPackHeader(repository.master, bytes);
  } catch (error) {
    report(`pack ${key} is damaged: its header cannot be read (${describe(error)})`, indexed);
    return;
  }
  const damaged: BlobLocation[] = [];
  for (const blob of blobs) {
    try {
      await repository.decodeBlob(packId, blob, bytes.subarray(blob.offset, blob.offset + blob.length));
      result.blobsRead++;
    } catch (error) {
      if (!(error instanceof EngineError)) throw error;
      damaged.push(blob);
    }
  }
  if (damaged.length > 0) {
    report(`pack ${key} is damaged: ${damaged.length} of ${blobs.length} blob(s) fail authentication or hash check`, damaged);
  } else if (!hashMatches) {
    report(`pack ${key} is damaged: its content does not match its name (SHA-256)`, []);
  }
}

class BlobUsers {
  readonly bySnapshot = new Map<string, Set<string>>();

  add(snapshot: string, path: string): void {
    let paths = this.bySnapshot.get(snapshot);
    if (!paths) this.bySnapshot.set(snapshot, (paths = new Set()));
    paths.add(path);
  }

  summary(): { snapshot: string; paths: string[] }[] {
    return [...this.bySnapshot].map(([snapshot, paths]) => ({ snapshot, paths: [...paths].sort() }));
  }
}

/** Which snapshot files use which blob, so damage can be reported in terms a user recognises. */
class ReferenceMap {
  readonly blobs = new Map<string, BlobUsers>();

  async collect(repository: Repository, stored: StoredSnapshot, result: CheckResult): Promise<void> {
    const visit = async (treeId: string, prefix: string): Promise<void> => {
      this.use(treeId, stored.id, prefix || '/');
      let entries: TreeEntry[];
      try {
        entries = (await repository.readTree(treeId)).entries;
      } catch (error) {
        result.errors.push({
          kind: 'tree-damaged',
          object: treeId,
          message: `tree of "${prefix || '/'}" in snapshot ${stored.id.slice(0, 8)} cannot be read: ${describe(error)}`,
          affected: [{ snapshot: stored.id, paths: [prefix || '/'] }],
        });
        return;
      }
      for (const entry of entries) {
        const path = `${prefix}/${entry.name}`;
        if (entry.type === 'file') for (const id of entry.content) this.use(id, stored.id, path);
        if (entry.type === 'dir') await visit(entry.subtree, path);
      }
    };
    await visit(stored.snapshot.tree, '');
  }

  affectedBy(blobs: { id: string }[]): { snapshot: string; paths: string[] }[] {
    const merged = new BlobUsers();
    for (const blob of blobs) {
      for (const [snapshot, paths] of this.blobs.get(blob.id)?.bySnapshot ?? []) for (const path of paths) merged.add(snapshot, path);
    }
    return merged.summary();
  }

  private use(blobId: string, snapshot: string, path: string): void {
    let users = this.blobs.get(blobId);
    if (!users) this.blobs.set(blobId, (users = new BlobUsers()));
    users.add(snapshot, path);
  }
}
