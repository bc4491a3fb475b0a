import { z } from 'zod';
import { count, object } from './schema';

/** What a prune after a deletion or erasure removed; null when the prune could not run (a later one frees the data). */
export const pruneSummary = object({ blobsRemoved: count(), erasedBlobsRemoved: count(), bytesFreed: count() }).nullable();

export type PruneSummary = z.infer<typeof pruneSummary>;
