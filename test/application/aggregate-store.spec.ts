import * as path from 'node:path';
import { AggregateStore } from '../../src/application/aggregate-store';
import { toNewEvents, userContext } from '../../src/application/event-envelope';
import { EventStore, RecordedEvent, WrongExpectedRevisionError } from '../../src/application/ports/event-store';
import { DomainError, sourceDecider, SourceCommand, Streams } from '../../src/domain';
import { SqliteEventStore } from '../../src/infrastructure/event-store/sqlite-event-store';
import { errorOf } from '../support/error-of';
import { useTempDirs } from '../support/temp-dirs';

const AT = '2030-01-01T00:00:00.000Z';
const SOURCE = '6f1c2a9e-0000-4000-8000-000000000001';
const STREAM = Streams.source(SOURCE);

/** A promise with its resolve function, to hold an operation until the test lets it go. */
function latch(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/**
 * The real SQLite store, with a hook run after each read of the stream under test (before the
 * caller decides and appends): it lets a test line up concurrent writers deterministically.
 */
class HookedStore implements EventStore {
  reads = 0;
  afterRead: (read: number) => Promise<void> = async () => undefined;

  constructor(readonly inner: SqliteEventStore) {}

  append: EventStore['append'] = (stream, events, expected) => this.inner.append(stream, events, expected);
  readAll: EventStore['readAll'] = (after, limit) => this.inner.readAll(after, limit);
  onAppended: EventStore['onAppended'] = (listener) => this.inner.onAppended(listener);
  close = () => this.inner.close();

  async readStream(stream: string, fromRevision?: number): Promise<RecordedEvent[]> {
    const events = await this.inner.readStream(stream, fromRevision);
    if (stream === STREAM) await this.afterRead(++this.reads);
    return events;
  }
}

const rename = (name: string): SourceCommand => ({ type: 'UpdateSource', sourceId: SOURCE, name, at: AT });

/**
 * The aggregate store decides on the stream's current state and appends with that revision as
 * the expected one; a decision that lost the race is made again on the fresh state, a bounded
 * number of times, and a domain refusal is never retried.
 */
describe('AggregateStore: optimistic concurrency on the SQLite event store', () => {
  const tempDir = useTempDirs();
  let sqlite: SqliteEventStore;
  let store: HookedStore;
  let aggregates: AggregateStore;

  beforeEach(async () => {
    sqlite = await SqliteEventStore.open(path.join(await tempDir('aggregate-store'), 'events.db'));
    store = new HookedStore(sqlite);
    aggregates = new AggregateStore(store);
    await aggregates.execute(
      sourceDecider,
      STREAM,
      { type: 'RegisterSource', sourceId: SOURCE, name: 'start', path: '/data/a', at: AT },
      userContext('alice'),
      AT,
    );
    store.reads = 0;
  });

  afterEach(() => sqlite.close());

  const names = async () =>
    (await sqlite.readStream(STREAM)).map((event) => `${event.revision}:${event.type}:${(event.data as { name?: string }).name ?? ''}`);

  it('lands two concurrent commands that both read the same revision, one after the other', async () => {
    // Both commands hold after their first read, so both decide on revision 0.
    const bothRead = latch();
    store.afterRead = async (read) => {
      if (read === 2) bothRead.open();
      if (read <= 2) await bothRead.promise;
    };

    const [first, second] = await Promise.all([
      aggregates.execute(sourceDecider, STREAM, rename('first'), userContext('alice'), AT),
      aggregates.execute(sourceDecider, STREAM, rename('second'), userContext('bob'), AT),
    ]);

    // One append won; the other conflicted, read again (a third read) and landed after it.
    expect(store.reads).toBe(3);
    expect(await names()).toEqual(['0:SourceRegistered:start', '1:SourceUpdated:first', '2:SourceUpdated:second']);
    expect(first).toMatchObject({ appended: 1, state: { name: 'first' } });
    expect(second).toMatchObject({ appended: 1, state: { name: 'second' } });
    expect(second.position).toBeGreaterThan(first.position!);
    const actors = (await sqlite.readStream(STREAM)).map((event) => event.metadata.actor);
    expect(actors).toEqual(['alice', 'alice', 'bob']);
  });

  it('decides again on the fresh state: a retried command that is no longer needed appends nothing', async () => {
    const bothRead = latch();
    store.afterRead = async (read) => {
      if (read === 2) bothRead.open();
      if (read <= 2) await bothRead.promise;
    };

    // Both ask for the same name; the loser finds it already set and decides nothing.
    const results = await Promise.all([
      aggregates.execute(sourceDecider, STREAM, rename('same'), userContext('alice'), AT),
      aggregates.execute(sourceDecider, STREAM, rename('same'), userContext('bob'), AT),
    ]);

    expect(results.map((result) => result.appended).sort()).toEqual([0, 1]);
    expect(await names()).toEqual(['0:SourceRegistered:start', '1:SourceUpdated:same']);
  });

  it('gives up with WrongExpectedRevisionError after six attempts when every append conflicts', async () => {
    // A rival writer appends to the stream between each read and the append that follows it.
    let rivals = 0;
    store.afterRead = async () => {
      rivals++;
      await sqlite.append(
        STREAM,
        toNewEvents([{ type: 'SourceUpdated', data: { sourceId: SOURCE, name: `rival-${rivals}`, at: AT } }], userContext('rival'), AT),
        'any',
      );
    };

    const error = await errorOf(() => aggregates.execute(sourceDecider, STREAM, rename('loser'), userContext('alice'), AT));

    expect(error).toBeInstanceOf(WrongExpectedRevisionError);
    expect(error).toMatchObject({ code: 'WRONG_EXPECTED_REVISION', stream: STREAM });
    // One try and five retries, each on a fresh read.
    expect(store.reads).toBe(6);
    const stream = await sqlite.readStream(STREAM);
    expect(stream.map((event) => event.metadata.actor)).toEqual(['alice', ...Array<string>(6).fill('rival')]);
  });

  it('lands a command that conflicts fewer times than the limit', async () => {
    store.afterRead = async (read) => {
      if (read > 5) return;
      await sqlite.append(
        STREAM,
        toNewEvents([{ type: 'SourceUpdated', data: { sourceId: SOURCE, name: `rival-${read}`, at: AT } }], userContext('rival'), AT),
        'any',
      );
    };

    const result = await aggregates.execute(sourceDecider, STREAM, rename('patient'), userContext('alice'), AT);

    expect(store.reads).toBe(6);
    expect(result).toMatchObject({ appended: 1, state: { name: 'patient' } });
    expect((await names()).at(-1)).toBe('6:SourceUpdated:patient');
  });

  it('does not retry a domain error', async () => {
    const error = await errorOf(() =>
      aggregates.execute(
        sourceDecider,
        STREAM,
        { type: 'RegisterSource', sourceId: SOURCE, name: 'again', path: '/data/a', at: AT },
        userContext('alice'),
        AT,
      ),
    );

    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({ code: 'ALREADY_EXISTS' });
    expect(store.reads).toBe(1);
    expect(await names()).toEqual(['0:SourceRegistered:start']);
  });

  it('does not retry a domain error met on a retry either', async () => {
    // The rival removes the source; the retried update is refused, once, and not tried again.
    store.afterRead = async (read) => {
      if (read === 1) {
        await sqlite.append(
          STREAM,
          toNewEvents([{ type: 'SourceRemoved', data: { sourceId: SOURCE, at: AT } }], userContext('rival'), AT),
          'any',
        );
      }
    };

    const error = await errorOf(() => aggregates.execute(sourceDecider, STREAM, rename('late'), userContext('alice'), AT));

    expect(error).toMatchObject({ name: 'DomainError', code: 'INVALID_TRANSITION' });
    expect(store.reads).toBe(2);
    expect((await sqlite.readStream(STREAM)).map((event) => event.type)).toEqual(['SourceRegistered', 'SourceRemoved']);
  });
});
