import { STREAM_NAME } from '@eventstore/db-client';
import { EventStoreDbEventStore } from '../../src/infrastructure/event-store/eventstoredb-event-store';
import { eventStoreDbSettings } from '../../src/infrastructure/event-store/eventstoredb-settings';
import {
  CUSTODIA_STREAM_PREFIXES,
  logEventPredicate,
  serverFilter,
} from '../../src/infrastructure/event-store/eventstoredb-stream-selection';

describe('EventStoreDB settings', () => {
  afterEach(() => jest.restoreAllMocks());

  it("fills in the defaults: Custodia's streams, 1 s doubling to 30 s between resubscriptions, 10 s to connect", () => {
    const defaults = {
      streams: { prefixes: CUSTODIA_STREAM_PREFIXES },
      onListenerError: undefined,
      onConnectionError: expect.any(Function),
      resubscribeBackoff: { kind: 'exponential', initialMs: 1_000, maxMs: 30_000 },
      connectTimeoutMs: 10_000,
    };

    expect(eventStoreDbSettings()).toEqual(defaults);
    expect(eventStoreDbSettings({})).toEqual(defaults);
  });

  it('reports background failures on the console unless told where to', () => {
    const logged = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    const failure = new Error('subscription dropped');

    eventStoreDbSettings().onConnectionError(failure);

    expect(logged).toHaveBeenCalledWith('event store: EventStoreDB background failure', failure);
  });

  it('takes what is given as it is, zero included (only missing options get defaults)', () => {
    const onListenerError = jest.fn();
    const onConnectionError = jest.fn();
    const streams = { regex: '^backup-' };

    expect(eventStoreDbSettings({ streams, onListenerError, onConnectionError, resubscribeDelayMs: 0, connectTimeoutMs: 0 })).toEqual({
      streams,
      onListenerError,
      onConnectionError,
      resubscribeBackoff: { kind: 'exponential', initialMs: 0, maxMs: 30_000 },
      connectTimeoutMs: 0,
    });
  });
});

describe('EventStoreDB stream selection', () => {
  it("keeps the events of Custodia's streams by default, and no other stream's", () => {
    const isLogEvent = logEventPredicate({ prefixes: CUSTODIA_STREAM_PREFIXES });

    for (const stream of ['source-1', 'backup-1', 'restore-1', 'subject-1']) expect(isLogEvent(stream, 'Happened')).toBe(true);
    expect(isLogEvent('marker-1', 'Happened')).toBe(false);
    expect(isLogEvent('Backup-1', 'Happened')).toBe(false);
  });

  it("never keeps the store's own streams, the server's streams, or system event types, whatever is selected", () => {
    const everything = logEventPredicate({ regex: '.*' });
    const byPrefix = logEventPredicate({ prefixes: ['custodia-', '$', 'backup-'] });

    for (const isLogEvent of [everything, byPrefix]) {
      expect(isLogEvent('custodia-checkpoint-projections', 'CustodiaCheckpointSaved')).toBe(false);
      expect(isLogEvent('custodia-event-id-0f6c2a4e', 'CustodiaEventIdReserved')).toBe(false);
      expect(isLogEvent('$streams', 'Happened')).toBe(false);
      expect(isLogEvent('backup-1', '$metadata')).toBe(false);
      expect(isLogEvent('backup-1', 'Happened')).toBe(true);
    }
  });

  it('matches a regular expression the way the server does: anywhere in the name unless anchored', () => {
    expect(logEventPredicate({ regex: 'up-' })('backup-1', 'T')).toBe(true);
    expect(logEventPredicate({ regex: '^up-' })('backup-1', 'T')).toBe(false);
  });

  it('refuses a selection of nothing, or of everything through an empty prefix', () => {
    expect(() => logEventPredicate({ prefixes: [] })).toThrow(RangeError);
    expect(() => logEventPredicate({ prefixes: ['backup-', ''] })).toThrow('EventStoreDB event store: stream prefixes must be non-empty');
  });

  it('refuses a regular expression that is not one', () => {
    expect(() => logEventPredicate({ regex: '(unclosed' })).toThrow(SyntaxError);
  });

  it("filters the live subscription on the server by the same streams, in the client's own filter", () => {
    const prefixes = ['backup-', 'source-'];
    const filter = serverFilter({ prefixes });

    expect(filter).toMatchObject({ filterOn: STREAM_NAME, prefixes });
    // A copy: a caller changing its array later does not change the subscription's filter.
    expect((filter as { prefixes: string[] }).prefixes).not.toBe(prefixes);
    expect(serverFilter({ regex: '^backup-' })).toMatchObject({ filterOn: STREAM_NAME, regex: '^backup-' });
  });
});

describe('EventStoreDbEventStore construction', () => {
  // Both fail before a client exists, so there is no connection to close.
  it('refuses a bad stream selection before creating a client', () => {
    expect(() => new EventStoreDbEventStore('esdb://127.0.0.1:2113?tls=false', { streams: { prefixes: [] } })).toThrow(RangeError);
    expect(() => new EventStoreDbEventStore('not a connection string', { streams: { prefixes: [] } })).toThrow(RangeError);
  });

  it("lets the client's connection string parser refuse what it does not understand", () => {
    expect(() => new EventStoreDbEventStore('http://127.0.0.1:2113')).toThrow(/expected esdb:\/\/ or esdb\+discover:\/\//);
    expect(() => new EventStoreDbEventStore('esdb://127.0.0.1:2113?tls=maybe')).toThrow(/expected true or false/);
  });
});
