/**
 * The event store port. Adapters: embedded SQLite (default), PostgreSQL, EventStoreDB.
 * Every adapter must pass test/contract/event-store.contract.ts.
 */
export interface EventMetadata {
  correlationId: string;
  causationId: string | null;
  actor: string;
  /** The role the actor acted in, when the API authenticated it (see access-control.ts). */
  role?: string;
}

/** An event as a command handler hands it to the store. */
export interface NewEvent {
  /** Unique id (UUID). Appending an event whose id the stream already holds is a no-op. */
  id: string;
  type: string;
  schemaVersion: number;
  occurredAt: string;
  data: unknown;
  metadata: EventMetadata;
}

/** An event as stored: with its place in its stream and in the global log. */
export interface RecordedEvent extends NewEvent {
  stream: string;
  /** 0-based position within the stream. */
  revision: number;
  /** Position in the global log: strictly increasing in commit order, starting at 1. */
  position: number;
}

/**
 * What the writer believes the stream's last revision is: a number (the last event's revision),
 * 'no-stream' (the stream must not exist), or 'any' (no check).
 */
export type ExpectedRevision = number | 'no-stream' | 'any';

export interface AppendResult {
  /** Revision of the last event now in the stream. */
  nextExpectedRevision: number;
  /** Global position of the last appended event (of the existing ones, for an idempotent repeat). */
  position: number;
}

export class WrongExpectedRevisionError extends Error {
  constructor(
    readonly stream: string,
    readonly expected: ExpectedRevision,
    readonly actual: number | 'no-stream',
  ) {
    super(`stream ${stream}: expected revision ${String(expected)}, actual ${String(actual)}`);
    this.name = 'WrongExpectedRevisionError';
  }
}

export interface EventStore {
  /**
   * Appends atomically: all events or none. Throws WrongExpectedRevisionError on a conflict.
   * If every event's id is already in the stream (a retried append), returns the original
   * result without writing; a mix of stored and new ids is a conflict.
   */
  append(stream: string, events: NewEvent[], expectedRevision: ExpectedRevision): Promise<AppendResult>;
  /** The stream's events from `fromRevision` on, in order; [] for a missing stream. */
  readStream(stream: string, fromRevision?: number): Promise<RecordedEvent[]>;
  /**
   * Events of the global log with position > `afterPosition`, in position order, at most
   * `limit`. Never skips an event: an event that becomes visible later always has a higher
   * position than everything already returned.
   */
  readAll(afterPosition: number, limit: number): Promise<RecordedEvent[]>;
  /** Registers a callback run after appends commit (a wake-up hint for subscriptions). */
  onAppended(listener: () => void): () => void;
  close(): Promise<void>;
}

/** Durable subscription checkpoints (the last position a named subscriber has fully handled). */
export interface CheckpointStore {
  load(subscription: string): Promise<number>;
  save(subscription: string, position: number): Promise<void>;
}
