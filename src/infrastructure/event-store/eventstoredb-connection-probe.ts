import { BACKWARDS, END, EventStoreDBClient } from '@eventstore/db-client';
import { connectTimeoutError } from './eventstoredb-errors';

/**
 * Checks, by reading the last record of $all, that the server answers within `timeoutMs` and lets
 * this user read $all (which readAll needs). The client connects lazily, so without this a wrong
 * address or missing permission would only show at the first append or read, long after start-up.
 * Throws the read's error, or an ETIMEDOUT one.
 */
export async function probeConnection(client: EventStoreDBClient, timeoutMs: number): Promise<void> {
  const read = client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(connectTimeoutError(timeoutMs)), timeoutMs);
  });
  try {
    await Promise.race([read.toArray(), timeout]);
  } catch (error) {
    // Not awaited: with a server that does not answer, it could wait for it.
    read.cancel().catch(() => undefined);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
