import { StreamingRead } from '@eventstore/db-client';
import { isStreamNotFound } from './eventstoredb-errors';

/**
 * Hands each item of a read to `visitor`, to the end of the read; a stream that does not exist
 * reads as empty. A read is never left early, not even when `visitor` throws (that error is
 * thrown once the read has ended): leaving a for-await loop only destroys the client's readable,
 * the gRPC call under it then stays half-read, and the client's dispose() waits for it forever.
 * Every read is therefore bounded by maxCount, or by the end of its stream.
 */
export async function visit<E>(read: StreamingRead<E>, visitor: (item: E) => void): Promise<void> {
  let failure: { error: unknown } | null = null;
  try {
    for await (const item of read) {
      if (failure) continue;
      try {
        visitor(item);
      } catch (error) {
        failure = { error };
      }
    }
  } catch (error) {
    if (!isStreamNotFound(error)) throw error;
  }
  if (failure) throw failure.error;
}
