import {
  BACKWARDS,
  END,
  EventStoreDBClient,
  JSONEventData,
  NO_STREAM,
  RecordedEvent as EsdbRecordedEvent,
  WrongExpectedVersionError,
} from '@eventstore/db-client';
import { assertCheckpoint, RESERVED_STREAM_PREFIX } from './append-rules';
import { internalEvent, isRecord } from './eventstoredb-event-mapping';
import { visit } from './eventstoredb-reads';

/**
 * Subscription checkpoints on EventStoreDB: each subscription has a stream of its own,
 * `custodia-checkpoint-<name>`; save appends an event, load reads the last one. The streams are
 * under the reserved prefix, so they are never part of the log readAll returns.
 */

const CHECKPOINT_PREFIX = `${RESERVED_STREAM_PREFIX}checkpoint-`;
const CHECKPOINT_SAVED = 'CustodiaCheckpointSaved';
/** How many saved checkpoints a checkpoint stream keeps ($maxCount): only the last is read. */
const CHECKPOINT_HISTORY = 10;

export class EventStoreDbCheckpoints {
  /** @param onHousekeepingError receives a failure to limit a new checkpoint stream's length, which does not fail the save. */
  constructor(
    private readonly client: EventStoreDBClient,
    private readonly onHousekeepingError: (error: unknown) => void,
  ) {}

  async load(subscription: string): Promise<number> {
    return (await this.last(checkpointStream(subscription))).position;
  }

  /**
   * Appends the checkpoint unless the stream already holds this position or a later one: a
   * checkpoint never moves backwards. The append expects the revision just read, so a save by
   * another process in between makes this one read again and decide again.
   */
  async save(subscription: string, position: number): Promise<void> {
    assertCheckpoint(subscription, position);
    const stream = checkpointStream(subscription);
    for (;;) {
      const last = await this.last(stream);
      if (last.revision !== null && last.position >= position) return;
      try {
        const result = await this.client.appendToStream(stream, checkpointEvent(position), {
          expectedRevision: last.revision ?? NO_STREAM,
        });
        if (result.nextExpectedRevision === 0n) await this.limitHistory(stream);
        return;
      } catch (error) {
        if (!(error instanceof WrongExpectedVersionError)) throw error;
      }
    }
  }

  private async last(stream: string): Promise<{ position: number; revision: bigint | null }> {
    let last: { position: number; revision: bigint | null } = { position: 0, revision: null };
    await visit(this.client.readStream(stream, { direction: BACKWARDS, fromRevision: END, maxCount: 1 }), ({ event }) => {
      if (event) last = { position: checkpointPosition(event), revision: event.revision };
    });
    return last;
  }

  /**
   * The stream was just created: let the server drop all but the last few checkpoints. The
   * checkpoint itself is saved, so a failure here is reported and does not fail the save.
   */
  private async limitHistory(stream: string): Promise<void> {
    await this.client.setStreamMetadata(stream, { maxCount: CHECKPOINT_HISTORY }).catch(this.onHousekeepingError);
  }
}

export function checkpointStream(subscription: string): string {
  assertCheckpoint(subscription);
  return `${CHECKPOINT_PREFIX}${subscription}`;
}

export function checkpointEvent(position: number): JSONEventData {
  return internalEvent(CHECKPOINT_SAVED, { position });
}

/** The position a checkpoint event holds; an error for one this store did not write. */
export function checkpointPosition(event: EsdbRecordedEvent): number {
  const data: unknown = event.data;
  if (isRecord(data) && Number.isSafeInteger(data.position) && (data.position as number) >= 0) return data.position as number;
  throw new Error(`stream ${event.streamId}: unreadable checkpoint ${event.id}`);
}
