import { Repository } from '../engine';

/**
 * Gives workers an unlocked repository. Unlocking costs a deliberate scrypt derivation, so it
 * happens once per process; each job then refreshes the index to see packs written by others.
 */
export interface RepositoryProvider {
  repository(): Promise<Repository>;
}
