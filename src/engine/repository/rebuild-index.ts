import { Keys, PackRecord } from './format';
import { listRepositoryObjects, packIdOf } from './object-names';
import { readPackHeader } from './pack-file';
import { describe, Repository } from './repository';

export interface RebuildResult {
  packs: number;
  blobs: number;
  /** `keptFromOldIndex`: the old index still listed the pack, so its blobs stay indexed. */
  unreadablePacks: { pack: string; reason: string; keptFromOldIndex: boolean }[];
  replacedIndexFiles: number;
}

/**
 * Rebuilds the index from the packs alone (each pack's encrypted header lists its blobs), then
 * replaces the old index files. The new index is written before any old one is removed, so an
 * interruption leaves both, which is merely redundant. Packs whose header cannot be read are
 * reported and left in place for a human to look at; if a readable old index file lists such a
 * pack, its entry is carried over, because the blobs themselves may well be intact (each one is
 * authenticated and hash-checked when read) and dropping the entry would make them unreachable.
 */
export async function rebuildIndex(repository: Repository): Promise<RebuildResult> {
  // It removes index files: no other operation may be reading them meanwhile.
  return repository.whileLocked('exclusive', () => rebuildUnderLock(repository));
}

async function rebuildUnderLock(repository: Repository): Promise<RebuildResult> {
  const oldIndexFiles = await listRepositoryObjects(repository.store, 'index/');
  // Damaged index files are what a rebuild replaces: ignore them here.
  await repository.loadIndex(() => undefined);
  const records: PackRecord[] = [];
  const unreadablePacks: RebuildResult['unreadablePacks'] = [];
  for (const object of await listRepositoryObjects(repository.store, 'data/')) {
    const id = packIdOf(object.key);
    try {
      const blobs = readPackHeader(repository.master, await repository.store.get(Keys.pack(id)));
      records.push({ id, size: object.size, blobs });
    } catch (error) {
      const known = repository.index.pack(id);
      const keptFromOldIndex = known !== undefined && known.size === object.size;
      if (keptFromOldIndex) records.push(known);
      unreadablePacks.push({ pack: object.key, reason: describe(error), keptFromOldIndex });
    }
  }
  const written = await repository.writeWholeIndex(records);
  const replaced = oldIndexFiles.filter((object) => !written.has(object.key));
  for (const object of replaced) await repository.store.delete(object.key);
  return {
    packs: records.length,
    blobs: records.reduce((sum, record) => sum + record.blobs.length, 0),
    unreadablePacks,
    replacedIndexFiles: replaced.length,
  };
}
