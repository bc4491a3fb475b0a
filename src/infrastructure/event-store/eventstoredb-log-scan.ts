import { EventStoreDBClient, FORWARDS, Position } from '@eventstore/db-client';
import { RecordedEvent } from '../../application/ports/event-store';
import { toRecordedEvent } from './eventstoredb-event-mapping';
import { isAfter, readAllStart, toPosition } from './eventstoredb-positions';
import { visit } from './eventstoredb-reads';

/** How many $all records one request asks for (they are filtered here, see below). */
const MIN_SCAN_BATCH = 32;
const MAX_SCAN_BATCH = 1_000;

/**
 * Up to `limit` events of Custodia's log (those `isLogEvent` keeps) after `afterPosition`, in
 * $all order. The client's readAll (6.x) cannot ask the server for a filtered read, so $all is
 * read in batches from `afterPosition` on and filtered here, until `limit` events were found or
 * the log ends. Reading $all from a position includes the record at that position: the one at
 * `afterPosition`, and each batch's first (the previous batch's last), are skipped.
 */
export async function scanLog(
  client: EventStoreDBClient,
  afterPosition: number,
  limit: number,
  isLogEvent: (stream: string, type: string) => boolean,
): Promise<RecordedEvent[]> {
  const after = BigInt(afterPosition);
  const batchSize = scanBatchSize(limit);
  const found: RecordedEvent[] = [];
  const cursor: { last: Position | null } = { last: null };
  for (;;) {
    let records = 0;
    await visit(
      client.readAll({
        direction: FORWARDS,
        fromPosition: cursor.last ?? readAllStart(afterPosition),
        maxCount: batchSize,
        resolveLinkTos: false,
      }),
      ({ event }) => {
        records += 1;
        if (!event || (cursor.last && !isAfter(event.position, cursor.last))) return;
        cursor.last = event.position;
        if (found.length < limit && event.position.commit > after && isLogEvent(event.streamId, event.type)) {
          found.push(toRecordedEvent(event, toPosition(event.position.commit, event)));
        }
      },
    );
    if (found.length >= limit || records < batchSize || !cursor.last) return found;
  }
}

/** One more than `limit` (the first record is the one at the start position), within bounds. */
export function scanBatchSize(limit: number): number {
  return Math.min(Math.max(limit + 1, MIN_SCAN_BATCH), MAX_SCAN_BATCH);
}
