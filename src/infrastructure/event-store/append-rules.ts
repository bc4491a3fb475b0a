import {
  AppendResult,
  DuplicateEventIdError,
  EventNotJsonError,
  ExpectedRevision,
  InvalidEventStoreCallError,
  NewEvent,
  WrongExpectedRevisionError,
} from '../../application/ports/event-store';

/**
 * The rules of the event store port, checked by every adapter (SQLite, PostgreSQL, EventStoreDB)
 * the same way and with the same error codes (EventStoreErrorCode), so that a store can be
 * swapped without a caller noticing. What each adapter still does on its own is only how it
 * finds the stored ids and the stream's revision.
 *
 * Stream names: letters, digits and `_ . : @ -`, starting with a letter or digit (Custodia's are
 * `source-<uuid>`, `subject-<hex>`, ...). `custodia-` is the stores' own (EventStoreDB keeps
 * checkpoints and id reservations there) and `$` the server's, so neither can be appended to.
 */
const STREAM_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:@-]*$/;
export const RESERVED_STREAM_PREFIX = 'custodia-';
/** Lowercase only: EventStoreDB hands ids back in lowercase, and any other form would not compare equal when read back. */
const EVENT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Event types: `$` starts EventStoreDB's system types. */
const EVENT_TYPE = /^[A-Za-z][A-Za-z0-9_.-]*$/;
/** What Date.prototype.toISOString writes, with or without milliseconds, in UTC or with an offset. */
const OCCURRED_AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const METADATA_FIELDS = new Set(['correlationId', 'causationId', 'actor', 'role']);

/** An event id the store already holds, with its place: how a repeated append is recognised. */
export interface StoredEventId {
  id: string;
  stream: string;
  revision: number;
  position: number;
}

/**
 * Everything an append is checked for before the store is touched: the stream name, a non-empty
 * batch of distinct lowercase-UUID ids, each event's type, schema version, occurrence time and
 * metadata, and the expected revision. Throws InvalidEventStoreCallError.
 */
export function assertAppendable(stream: string, events: NewEvent[], expectedRevision: ExpectedRevision): void {
  assertStreamName(stream);
  if (!isExpectedRevision(expectedRevision)) {
    throw new InvalidEventStoreCallError(
      'INVALID_EXPECTED_REVISION',
      `append to stream ${stream}: expected revision must be 'no-stream', 'any' or a non-negative integer, got ${String(expectedRevision)}`,
    );
  }
  if (!Array.isArray(events) || events.length === 0) {
    throw new InvalidEventStoreCallError('EMPTY_APPEND', `append to stream ${stream}: no events given`);
  }
  const ids = new Set<string>();
  for (const event of events) {
    const { id } = event;
    if (typeof id !== 'string' || !EVENT_ID.test(id)) {
      throw new InvalidEventStoreCallError(
        'INVALID_EVENT_ID',
        `append to stream ${stream}: event id ${String(id)} is not a lowercase UUID`,
      );
    }
    if (ids.has(id)) {
      throw new InvalidEventStoreCallError(
        'DUPLICATE_ID_IN_APPEND',
        `append to stream ${stream}: event id ${id} appears twice in one append`,
      );
    }
    ids.add(id);
    assertEventFields(stream, event);
  }
}

function assertStreamName(stream: string): void {
  if (typeof stream === 'string' && (stream.startsWith('$') || stream.startsWith(RESERVED_STREAM_PREFIX))) {
    throw new InvalidEventStoreCallError(
      'RESERVED_STREAM_NAME',
      `append to stream ${stream}: names starting with $ or ${RESERVED_STREAM_PREFIX} are reserved`,
    );
  }
  if (typeof stream !== 'string' || !STREAM_NAME.test(stream)) {
    const shown = typeof stream === 'string' && stream.length === 0 ? 'the stream name is empty' : `stream name ${JSON.stringify(stream)}`;
    throw new InvalidEventStoreCallError(
      'INVALID_STREAM_NAME',
      `append: ${shown}; a stream name is letters, digits and _ . : @ -, starting with a letter or digit`,
    );
  }
}

function isExpectedRevision(value: unknown): value is ExpectedRevision {
  return value === 'no-stream' || value === 'any' || (Number.isSafeInteger(value) && (value as number) >= 0);
}

function assertEventFields(stream: string, event: NewEvent): void {
  const where = `append to stream ${stream}: event ${event.id}`;
  if (typeof event.type !== 'string' || !EVENT_TYPE.test(event.type)) {
    throw new InvalidEventStoreCallError(
      'INVALID_EVENT',
      `${where}: type ${JSON.stringify(event.type)} is not a name (a letter, then letters, digits, _ . -)`,
    );
  }
  if (!Number.isSafeInteger(event.schemaVersion) || event.schemaVersion < 1) {
    throw new InvalidEventStoreCallError(
      'INVALID_EVENT',
      `${where}: schema version must be a positive integer, got ${String(event.schemaVersion)}`,
    );
  }
  if (typeof event.occurredAt !== 'string' || !OCCURRED_AT.test(event.occurredAt)) {
    throw new InvalidEventStoreCallError(
      'INVALID_EVENT',
      `${where}: occurredAt must be an ISO 8601 timestamp, got ${JSON.stringify(event.occurredAt)}`,
    );
  }
  const problem = metadataProblem(event.metadata);
  if (problem) throw new InvalidEventStoreCallError('INVALID_METADATA', `${where}: metadata ${problem}`);
}

function metadataProblem(metadata: unknown): string | null {
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) return 'must be an object';
  const fields = metadata as Record<string, unknown>;
  const unknown = Object.keys(fields).find((key) => !METADATA_FIELDS.has(key));
  if (unknown !== undefined) return `has a field the port does not define: ${unknown}`;
  if (typeof fields.correlationId !== 'string') return 'correlationId must be a string';
  if (typeof fields.causationId !== 'string' && fields.causationId !== null) return 'causationId must be a string or null';
  if (typeof fields.actor !== 'string') return 'actor must be a string';
  if (fields.role !== undefined && typeof fields.role !== 'string') return 'role, when present, must be a string';
  return null;
}

/**
 * The JSON text of an event's data or metadata, or EventNotJsonError. Done before a store takes
 * any lock, so a payload that is not JSON fails without writing anything.
 */
export function toJsonText(value: unknown, eventId: string, field: 'data' | 'metadata'): string {
  let json: string | undefined;
  try {
    // JSON.stringify(undefined) is undefined, not a string: storing it as null would not read back
    // as what was appended, so it is refused like a BigInt (for which JSON.stringify throws).
    json = JSON.stringify(value) as string | undefined;
  } catch {
    json = undefined;
  }
  if (json === undefined) throw new EventNotJsonError(eventId, field);
  return json;
}

/**
 * Expected-revision semantics: 'any' always holds; 'no-stream' holds for a stream without events;
 * a number holds when it is the stream's last revision. Throws WrongExpectedRevisionError.
 */
export function assertExpectedRevision(stream: string, expected: ExpectedRevision, actual: number | 'no-stream'): void {
  // 'no-stream' === 'no-stream' and number === number: the two ways an expectation can hold.
  if (expected !== 'any' && expected !== actual) throw new WrongExpectedRevisionError(stream, expected, actual);
}

/**
 * What the ids of an append that are already stored (`stored`, found by id in the whole store or
 * in the stream) make of it. A retry carries the expected revision its first attempt had, which
 * no longer matches, so this is decided on the ids alone, before the revision check:
 *  - none stored: a new append (`null`), to check against the expected revision;
 *  - all stored in this stream: a repeat, answered with the original result and writing nothing;
 *  - one stored in another stream: DuplicateEventIdError (the caller reused an id);
 *  - some stored, some not: a conflict (`'partial'`): the caller throws WrongExpectedRevisionError
 *    with the stream's current revision, which only it can read.
 */
export function repeatedAppend(
  stream: string,
  events: readonly { id: string }[],
  stored: StoredEventId[],
): AppendResult | 'partial' | null {
  const appended = new Set(events.map((event) => event.id));
  const repeated = stored.filter((event) => appended.has(event.id));
  if (repeated.length === 0) return null;
  const elsewhere = repeated.find((event) => event.stream !== stream);
  if (elsewhere) throw new DuplicateEventIdError(elsewhere.id, elsewhere.stream, stream);
  if (repeated.length < events.length) return 'partial';
  return {
    nextExpectedRevision: Math.max(...repeated.map((event) => event.revision)),
    position: Math.max(...repeated.map((event) => event.position)),
  };
}

/** readStream's arguments: a non-negative integer revision to start from. */
export function assertReadStreamArguments(stream: string, fromRevision: number): void {
  if (!Number.isSafeInteger(fromRevision) || fromRevision < 0) {
    throw new InvalidEventStoreCallError(
      'INVALID_ARGUMENT',
      `readStream ${stream}: fromRevision must be a non-negative integer, got ${fromRevision}`,
    );
  }
}

/** readAll's arguments: non-negative integers (SQLite would read a negative LIMIT as "no limit"). */
export function assertReadAllArguments(afterPosition: number, limit: number): void {
  if (!Number.isInteger(limit) || limit < 0) {
    throw new InvalidEventStoreCallError('INVALID_ARGUMENT', `readAll: limit must be a non-negative integer, got ${limit}`);
  }
  if (!Number.isSafeInteger(afterPosition) || afterPosition < 0) {
    throw new InvalidEventStoreCallError('INVALID_ARGUMENT', `readAll: afterPosition must be a non-negative integer, got ${afterPosition}`);
  }
}

/** A checkpoint: a named subscription, and a position that is a non-negative integer. */
export function assertCheckpoint(subscription: string, position?: number): void {
  if (typeof subscription !== 'string' || subscription.length === 0) {
    throw new InvalidEventStoreCallError('INVALID_ARGUMENT', 'checkpoint: the subscription name is empty');
  }
  if (position !== undefined && (!Number.isSafeInteger(position) || position < 0)) {
    throw new InvalidEventStoreCallError(
      'INVALID_ARGUMENT',
      `checkpoint ${subscription}: position must be a non-negative integer, got ${position}`,
    );
  }
}
