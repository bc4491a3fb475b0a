import { isEngineError } from '../errors';
import { Keys } from '../repository/format';
import { Repository } from '../repository/repository';

/**
 * Removes snapshots (by id, unique prefix or "latest"). Their data stays until `prune` finds it
 * unused. An unknown reference fails the whole call before anything is removed, unless
 * `missingOk` (a retried job whose first attempt already removed it).
 */
export async function forget(repository: Repository, references: string[], options: { missingOk?: boolean } = {}): Promise<string[]> {
  return repository.whileLocked('shared', async () => {
    const ids = new Set<string>();
    for (const reference of references) {
      try {
        ids.add((await repository.resolveSnapshot(reference)).id);
      } catch (error) {
        if (!(options.missingOk && isEngineError(error, 'SNAPSHOT_NOT_FOUND'))) throw error;
      }
    }
    for (const id of ids) await repository.store.delete(Keys.snapshot(id));
    return [...ids];
  });
}
