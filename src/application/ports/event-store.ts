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

/**
 * The stable codes of what an event store refuses, the same from every adapter (the rules are
 * src/infrastructure/event-store/append-rules.ts). Callers branch on `code`, never on a message.
 */
export type EventStoreErrorCode =
  /** The expected revision does not hold, or a retried append mixes stored and new ids. */
  | 'WRONG_EXPECTED_REVISION'
  /** An event's id is already stored in another stream. */
  | 'DUPLICATE_EVENT_ID'
  /** The stream name is empty or has a character outside the allowed set. */
  | 'INVALID_STREAM_NAME'
  /** The stream name is one the store keeps for itself (`custodia-...`). */
  | 'RESERVED_STREAM_NAME'
  /** An append with no events. */
  | 'EMPTY_APPEND'
  /** An event id that is not a lowercase UUID. */
  | 'INVALID_EVENT_ID'
  /** The same event id twice in one append. */
  | 'DUPLICATE_ID_IN_APPEND'
  /** An expected revision that is neither 'no-stream', 'any' nor a non-negative integer. */
  | 'INVALID_EXPECTED_REVISION'
  /** An event's type, schema version or occurrence time is malformed. */
  | 'INVALID_EVENT'
  /** An event's metadata is not EventMetadata (a missing, mistyped or unknown field). */
  | 'INVALID_METADATA'
  /** An event's data or metadata has no JSON representation (a BigInt, undefined, a function). */
  | 'EVENT_NOT_JSON'
  /** A read's or a checkpoint's argument is out of range (a negative limit, position or revision). */
  | 'INVALID_ARGUMENT';

export class WrongExpectedRevisionError extends Error {
  readonly code = 'WRONG_EXPECTED_REVISION' satisfies EventStoreErrorCode;

  constructor(
    readonly stream: string,
    readonly expected: ExpectedRevision,
    readonly actual: number | 'no-stream',
  ) {
    super(`stream ${stream}: expected revision ${String(expected)}, actual ${String(actual)}`);
    this.name = 'WrongExpectedRevisionError';
  }
}

/**
 * An appended event's id is already used by an event of another stream. Not a retry (that would
 * be the same stream), so it cannot be treated as an idempotent repeat: the caller reused an id.
 */
export class DuplicateEventIdError extends Error {
  readonly code = 'DUPLICATE_EVENT_ID' satisfies EventStoreErrorCode;

  constructor(
    readonly eventId: string,
    readonly existingStream: string,
    readonly stream: string,
  ) {
    super(`event id ${eventId} cannot be appended to stream ${stream}: stream ${existingStream} already holds it`);
    this.name = 'DuplicateEventIdError';
  }
}

/** A call the port's rules refuse before anything is read or written. A RangeError, as before the codes. */
export class InvalidEventStoreCallError extends RangeError {
  constructor(
    readonly code: Exclude<EventStoreErrorCode, 'WRONG_EXPECTED_REVISION' | 'DUPLICATE_EVENT_ID' | 'EVENT_NOT_JSON'>,
    message: string,
  ) {
    super(message);
    this.name = 'InvalidEventStoreCallError';
  }
}

/** An event whose data or metadata JSON cannot represent: nothing of its append is written. A TypeError, as JSON.stringify's. */
export class EventNotJsonError extends TypeError {
  readonly code = 'EVENT_NOT_JSON' satisfies EventStoreErrorCode;

  constructor(
    readonly eventId: string,
    readonly field: 'data' | 'metadata',
  ) {
    super(`event ${eventId}: ${field} is not representable as JSON`);
    this.name = 'EventNotJsonError';
  }
}

export interface EventStore {
  /**
   * Appends atomically: all events or none. Throws WrongExpectedRevisionError on a conflict,
   * DuplicateEventIdError for an id another stream holds, and InvalidEventStoreCallError or
   * EventNotJsonError for a call the rules refuse (see EventStoreErrorCode).
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
