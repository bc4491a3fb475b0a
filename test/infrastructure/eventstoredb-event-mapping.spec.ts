import { JSONEventData, RecordedEvent as EsdbRecordedEvent } from '@eventstore/db-client';
import { EventNotJsonError, NewEvent, RecordedEvent } from '../../src/application/ports/event-store';
import { internalEvent, toEventData, toRecordedEvent } from '../../src/infrastructure/event-store/eventstoredb-event-mapping';
import { newEvent } from '../contract/event-store/fixtures';

/**
 * The mapping between Custodia's events and EventStoreDB's, without a server: an event is
 * "written" with toEventData and "read back" the way the client hands it over (the JSON text of
 * data and metadata parsed again, revision and position as bigints).
 */

const STREAM = 'backup-0f6c2a4e';

/** What the client reads back for an event written as `written`. */
function readBack(written: JSONEventData, overrides: Partial<EsdbRecordedEvent> = {}): EsdbRecordedEvent {
  return {
    streamId: STREAM,
    id: written.id,
    isJson: true,
    revision: 3n,
    type: written.type,
    created: new Date('2030-01-02T03:04:05.000Z'),
    data: JSON.parse(JSON.stringify(written.data)) as never,
    metadata: JSON.parse(JSON.stringify(written.metadata)) as never,
    position: { commit: 4242n, prepare: 4242n },
    ...overrides,
  } as EsdbRecordedEvent;
}

function roundTrip(event: NewEvent, position = 4242): RecordedEvent {
  return toRecordedEvent(readBack(toEventData(event)), position);
}

function expectedRecord(event: NewEvent, position = 4242): RecordedEvent {
  return { ...event, stream: STREAM, revision: 3, position };
}

describe('EventStoreDB event mapping', () => {
  it('gives back the event it wrote, with the stream, revision and position it was read with', () => {
    const event = newEvent({ type: 'BackupStarted', schemaVersion: 2, data: { files: [1, 2], note: 'ü' } });

    expect(roundTrip(event, 17)).toEqual(expectedRecord(event, 17));
  });

  it('keeps a role and a causation id when there is one, and adds no role when there is none', () => {
    const withRole = newEvent({ metadata: { correlationId: 'c', causationId: 'cause', actor: 'alice', role: 'operator' } });
    const withoutRole = newEvent({ metadata: { correlationId: 'c', causationId: null, actor: 'alice' } });

    expect(roundTrip(withRole).metadata).toEqual({ correlationId: 'c', causationId: 'cause', actor: 'alice', role: 'operator' });
    expect(roundTrip(withoutRole).metadata).not.toHaveProperty('role');
    expect(roundTrip(withoutRole)).toEqual(expectedRecord(withoutRole));
  });

  it.each([['a string'], [null], [0], [-1.5], [true], [[]], [{}]])('round-trips JSON data the client does not type (%p)', (data) => {
    const event = newEvent({ data });

    expect(roundTrip(event).data).toEqual(data);
  });

  it('writes JSON, keeps the id and type, and carries schema version and occurrence time in the metadata', () => {
    const event = newEvent({ schemaVersion: 3, occurredAt: '2030-01-02T03:04:05.000Z' });

    expect(toEventData(event)).toEqual({
      id: event.id,
      contentType: 'application/json',
      type: event.type,
      data: event.data,
      metadata: { ...event.metadata, schemaVersion: 3, occurredAt: '2030-01-02T03:04:05.000Z' },
    });
  });

  it('refuses data or metadata JSON cannot represent before anything is sent', () => {
    expect(() => toEventData(newEvent({ data: { size: 1n } }))).toThrow(EventNotJsonError);
    expect(() => toEventData(newEvent({ data: undefined }))).toThrow(EventNotJsonError);
  });

  it('reads only the metadata fields it knows (the server or another writer may add others)', () => {
    const event = newEvent();
    const written = toEventData(event);
    const stored = readBack(written, { metadata: { ...(written.metadata as object), $correlationId: 'x', extra: 1 } as never });

    expect(toRecordedEvent(stored, 4242)).toEqual(expectedRecord(event));
  });

  it('refuses events Custodia did not write: binary ones, and JSON ones without its metadata', () => {
    const written = toEventData(newEvent());
    const withoutSchemaVersion = { ...(written.metadata as Record<string, unknown>) };
    delete withoutSchemaVersion.schemaVersion;

    expect(() => toRecordedEvent(readBack(written, { isJson: false } as never), 1)).toThrow(/not written by Custodia/);
    expect(() => toRecordedEvent(readBack(written, { metadata: withoutSchemaVersion as never }), 1)).toThrow(/not written by Custodia/);
    expect(() => toRecordedEvent(readBack(written, { metadata: undefined }), 1)).toThrow(/not written by Custodia/);
    expect(() => toRecordedEvent(readBack(written, { metadata: [] as never }), 1)).toThrow(/not written by Custodia/);
  });

  it('refuses a revision a JS number cannot hold exactly, rather than round it', () => {
    const written = toEventData(newEvent());

    expect(() => toRecordedEvent(readBack(written, { revision: 2n ** 53n }), 1)).toThrow(RangeError);
  });

  it("gives the store's own events a fresh id each and no metadata", () => {
    const [first, second] = [internalEvent('CustodiaThing', { a: 1 }), internalEvent('CustodiaThing', { a: 1 })];

    expect(first).toEqual({
      id: expect.any(String),
      contentType: 'application/json',
      type: 'CustodiaThing',
      data: { a: 1 },
      metadata: undefined,
    });
    expect(first.id).not.toBe(second.id);
  });
});
