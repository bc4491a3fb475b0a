import { forget } from '../../engine';
import { pruneIfPossible } from './prune';
import { JobRunner } from './runner';

/** Forgets the snapshot, then prunes what nothing uses any more. */
export const runDelete: JobRunner<'delete'> = async (job, { repository }) => {
  // Idempotent: a redelivered job finds the snapshot gone already.
  await forget(repository, [job.payload.snapshotId], { missingOk: true });
  return { prune: await pruneIfPossible(repository) };
};
