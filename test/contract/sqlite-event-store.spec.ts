import Database from 'better-sqlite3';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SqliteEventStore } from '../../src/infrastructure/event-store/sqlite-event-store';
import { eventStoreContract } from './event-store.contract';
import { expectStrictlyIncreasing, idsOf, newEvent, newEvents, positionsOf, readAllAfter, uniqueName } from './event-store/fixtures';
import { appendWithRetries } from './sqlite/append-with-retries';
import type { AppenderWorkerData } from './sqlite/appender.worker';
import { runTypeScriptWorker } from './sqlite/typescript-worker';

// The contract makes a listener throw on purpose; what the store reports about it is checked below.
const quietListenerErrors = { onListenerError: () => undefined };

async function temporaryDatabase(): Promise<{ file: string; remove: () => Promise<void> }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-event-store-'));
  return { file: path.join(dir, 'events.sqlite'), remove: () => fs.rm(dir, { recursive: true, force: true }) };
}

eventStoreContract('SqliteEventStore on a file', async () => {
  const { file, remove } = await temporaryDatabase();
  return {
    store: await SqliteEventStore.open(file, quietListenerErrors),
    reopen: () => SqliteEventStore.open(file, quietListenerErrors),
    cleanup: remove,
  };
});

eventStoreContract('SqliteEventStore in memory', async () => ({
  store: await SqliteEventStore.open(':memory:', quietListenerErrors),
  cleanup: async () => undefined,
}));

describe('SqliteEventStore', () => {
  let database: { file: string; remove: () => Promise<void> };
  const opened: SqliteEventStore[] = [];
  const open = async (options = {}) => {
    const store = await SqliteEventStore.open(database.file, options);
    opened.push(store);
    return store;
  };

  beforeEach(async () => {
    database = await temporaryDatabase();
  });
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    await database.remove();
  });

  it('loses and duplicates nothing when two instances on one file append to the same stream with expected revisions', async () => {
    const [first, second] = await Promise.all([open(), open()]);
    const stream = uniqueName('shared');
    const batches = Array.from({ length: 8 }, () => newEvents(15));

    const outcomes = await Promise.all(batches.map((events, writer) => appendWithRetries(writer % 2 ? second : first, stream, events)));

    const stored = await first.readStream(stream);
    expect(await second.readStream(stream)).toEqual(stored);
    expect(stored.map((event) => event.revision)).toEqual([...stored.keys()]);
    expect([...idsOf(stored)].sort()).toEqual(idsOf(batches.flat()).sort());
    expectStrictlyIncreasing(positionsOf(stored));
    expect(await readAllAfter(second, 0)).toEqual(stored);
    // Without conflicts the test would not have exercised the expected-revision check at all.
    expect(outcomes.reduce((sum, { conflicts }) => sum + conflicts, 0)).toBeGreaterThan(0);
  });

  it('loses and duplicates nothing when two threads, each with its own connection, open a fresh file and append to one stream', async () => {
    const stream = uniqueName('threads');
    const batches = [newEvents(60), newEvents(60)];
    const entry = path.join(__dirname, 'sqlite', 'appender.worker.ts');
    const startLine = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);

    const outcomes = await Promise.all(
      batches.map((events) =>
        runTypeScriptWorker<{ conflicts: number }>(entry, {
          file: database.file,
          stream,
          events,
          startLine,
          workers: batches.length,
        } satisfies AppenderWorkerData),
      ),
    );

    const stored = await (await open()).readStream(stream);
    expect(stored.map((event) => event.revision)).toEqual([...stored.keys()]);
    expect([...idsOf(stored)].sort()).toEqual(idsOf(batches.flat()).sort());
    expectStrictlyIncreasing(positionsOf(stored));
    expect(outcomes.reduce((sum, { conflicts }) => sum + conflicts, 0)).toBeGreaterThan(0);
  });

  it('numbers the global log from 1 and keeps it, in WAL mode, across reopening', async () => {
    const store = await open();
    const result = await store.append(uniqueName('first'), newEvents(2), 'no-stream');
    await store.close();

    const raw = new Database(database.file, { readonly: true });
    try {
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(raw.pragma('user_version', { simple: true })).toBe(1);
    } finally {
      raw.close();
    }
    expect(result.position).toBe(2);
    expect(positionsOf(await readAllAfter(await open(), 0))).toEqual([1, 2]);
  });

  it('refuses a database whose schema is newer than it knows', async () => {
    await (await open()).close();
    const raw = new Database(database.file);
    raw.pragma('user_version = 99');
    raw.close();

    await expect(SqliteEventStore.open(database.file)).rejects.toThrow(/schema version 99/);
  });

  it('hands what onAppended listeners throw or reject with to onListenerError', async () => {
    const reported: unknown[] = [];
    const store = await open({ onListenerError: (error: unknown) => reported.push(error) });
    const thrown = new Error('thrown');
    const rejected = new Error('rejected');
    store.onAppended(() => {
      throw thrown;
    });
    store.onAppended(async () => {
      throw rejected;
    });

    await store.append(uniqueName('listeners'), newEvents(1), 'no-stream');
    await new Promise((resolve) => setImmediate(resolve));

    expect(reported).toEqual([thrown, rejected]);
  });

  it('rejects an empty append, an event id repeated within one append, and a negative readAll limit', async () => {
    const store = await open();
    const event = newEvent();

    await expect(store.append(uniqueName('empty'), [], 'any')).rejects.toThrow(RangeError);
    await expect(store.append(uniqueName('twice'), [event, event], 'any')).rejects.toThrow(RangeError);
    await expect(store.readAll(0, -1)).rejects.toThrow(RangeError);
    expect(await store.readAll(0, 10)).toEqual([]);
  });
});
