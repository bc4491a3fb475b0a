import { pruneIfPossible } from './prune';
import { JobRunner } from './runner';

/** Destroys every key of the data subject, then prunes the blobs nobody can read any more. */
export const runErase: JobRunner<'erase'> = async (job, { repository }) => {
  // Idempotent: a redelivered job finds the keys gone and reports 0 destroyed.
  const shredded = await repository.keyVault.shred(job.payload.subject);
  // The subject's blobs can no longer be read; pruning deletes them outright.
  return { keysShredded: shredded.keysShredded, status: shredded.status, prune: await pruneIfPossible(repository) };
};
