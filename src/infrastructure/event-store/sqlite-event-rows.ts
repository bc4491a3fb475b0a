import type { NewEvent, RecordedEvent } from '../../application/ports/event-store';
import { toJsonText } from './append-rules';

/** An events table row, as better-sqlite3 returns it. */
export interface EventRow {
  position: number;
  id: string;
  stream: string;
  revision: number;
  type: string;
  schema_version: number;
  occurred_at: string;
  data: string;
  metadata: string;
}

/** A new event's columns, bound by name in the insert statement. */
export interface SerializedEvent {
  id: string;
  type: string;
  schemaVersion: number;
  occurredAt: string;
  data: string;
  metadata: string;
}

/**
 * Serialises before the write transaction starts, so a payload that is not JSON fails without
 * taking the write lock, and the lock is held only for the inserts.
 */
export function serializeEvent(event: NewEvent): SerializedEvent {
  return {
    id: event.id,
    type: event.type,
    schemaVersion: event.schemaVersion,
    occurredAt: event.occurredAt,
    data: toJsonText(event.data, event.id, 'data'),
    metadata: toJsonText(event.metadata, event.id, 'metadata'),
  };
}

export function deserializeEvent(row: EventRow): RecordedEvent {
  return {
    id: row.id,
    stream: row.stream,
    revision: row.revision,
    position: row.position,
    type: row.type,
    schemaVersion: row.schema_version,
    occurredAt: row.occurred_at,
    data: JSON.parse(row.data) as unknown,
    metadata: JSON.parse(row.metadata) as RecordedEvent['metadata'],
  };
}
