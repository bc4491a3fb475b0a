import { randomUUID } from 'node:crypto';
import { JSONEventData, JSONType, RecordedEvent as EsdbRecordedEvent } from '@eventstore/db-client';
import { EventMetadata, NewEvent, RecordedEvent } from '../../application/ports/event-store';
import { toJsonText } from './append-rules';
import { toSafeNumber } from './eventstoredb-positions';

/**
 * How a Custodia event is written as an EventStoreDB event and read back. EventStoreDB has no
 * columns for the schema version and the occurrence time, so they travel in the metadata JSON
 * next to the port's EventMetadata; reading refuses events without them, which Custodia's store
 * did not write.
 */

/** What Custodia keeps in an event's metadata JSON, next to the port's EventMetadata. */
export interface StoredMetadata extends EventMetadata {
  schemaVersion: number;
  occurredAt: string;
}

export function toEventData(event: NewEvent): JSONEventData {
  // Refused before anything is written: the client would fail on them midway through sending.
  toJsonText(event.data, event.id, 'data');
  const metadata: StoredMetadata = {
    correlationId: event.metadata.correlationId,
    causationId: event.metadata.causationId,
    actor: event.metadata.actor,
    ...(event.metadata.role !== undefined && { role: event.metadata.role }),
    schemaVersion: event.schemaVersion,
    occurredAt: event.occurredAt,
  };
  toJsonText(metadata, event.id, 'metadata');
  return {
    id: event.id,
    contentType: 'application/json',
    type: event.type,
    // The client sends JSON.stringify(data) and reads back JSON.parse of it. Its JSONType (object,
    // array or string) is narrower than JSON itself: null, numbers and booleans go through as well.
    data: event.data as JSONType,
    metadata: { ...metadata },
  };
}

/** Converts a stored event; `position` comes from how it was read ($all or its stream). */
export function toRecordedEvent(event: EsdbRecordedEvent, position: number): RecordedEvent {
  const metadata: unknown = event.metadata;
  if (!event.isJson || !isStoredMetadata(metadata)) {
    throw new Error(`stream ${event.streamId}: event ${event.id} (${event.type}) was not written by Custodia's event store`);
  }
  return {
    id: event.id,
    stream: event.streamId,
    revision: toSafeNumber(event.revision, 'stream revision'),
    position,
    type: event.type,
    schemaVersion: metadata.schemaVersion,
    occurredAt: metadata.occurredAt,
    data: event.data as unknown,
    metadata: {
      correlationId: metadata.correlationId,
      causationId: metadata.causationId,
      actor: metadata.actor,
      ...(typeof metadata.role === 'string' && { role: metadata.role }),
    },
  };
}

/** An event of the store's own streams (checkpoints, id reservations): a fresh id, no metadata. */
export function internalEvent(type: string, data: Record<string, unknown>): JSONEventData {
  return { id: randomUUID(), contentType: 'application/json', type, data, metadata: undefined };
}

function isStoredMetadata(value: unknown): value is StoredMetadata {
  return (
    isRecord(value) &&
    typeof value.correlationId === 'string' &&
    (typeof value.causationId === 'string' || value.causationId === null) &&
    typeof value.actor === 'string' &&
    typeof value.schemaVersion === 'number' &&
    typeof value.occurredAt === 'string'
  );
}

/** A JSON object (not null, not an array): what the store's own events carry as data. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
