import { Logger } from '@nestjs/common';
import { EngineError, prune, Repository } from '../../engine';
import { describeOrigin } from '../../application/describe-for-log';
import type { PruneSummary } from '../../application/jobs';

const logger = new Logger('JobWorker');

/**
 * Housekeeping after a deletion or an erasure, which are complete without it (the snapshot is
 * gone, the keys are destroyed). Prune needs the repository to itself: when a backup or
 * restore holds it, or check finds damage to repair first, a later prune frees the data.
 */
export async function pruneIfPossible(repository: Repository): Promise<PruneSummary> {
  try {
    const result = await prune(repository);
    return {
      blobsRemoved: result.blobs.removed,
      erasedBlobsRemoved: result.blobs.erasedRemoved,
      bytesFreed: result.bytes.before - result.bytes.after,
    };
  } catch (error) {
    const detail = error instanceof EngineError ? error.code : describeOrigin(error);
    logger.warn(`prune did not run (${detail}); a later prune frees the data`);
    return null;
  }
}
