import { randomUUID } from 'node:crypto';
import { escapeIdentifier, Pool, PoolClient } from 'pg';
import { ExpectedRevision, NewEvent, RecordedEvent, WrongExpectedRevisionError } from '../../src/application/ports/event-store';
import { PostgresEventStore, PostgresEventStoreOptions } from '../../src/infrastructure/event-store/postgres-event-store';
import { eventStoreContract, Store } from '../contract/event-store.contract';
import {
  expectStrictlyIncreasing,
  idsOf,
  inStreams,
  newEvent,
  newEvents,
  nextTick,
  positionsOf,
  readAllAfter,
  uniqueName,
} from '../contract/event-store/fixtures';
import { backendsOf, delay, dropSchema, eventually, postgresConnection, uniqueSchema, withClient } from './support/postgres';

const WRITERS = 20;
const APPENDS_PER_WRITER = 8;
const READER_PAGE_SIZE = 5;
const SLOW_EVENT_TYPE = 'SlowCommitRequested';

// The contract makes a listener throw on purpose.
const quiet: PostgresEventStoreOptions = { onListenerError: () => undefined };

const schemas: string[] = [];
function freshSchema(label: string): string {
  const schema = uniqueSchema(label);
  schemas.push(schema);
  return schema;
}

afterAll(async () => {
  for (const schema of schemas.splice(0)) await dropSchema(schema);
});

const contractSchema = freshSchema('contract');
eventStoreContract('PostgresEventStore', async () => {
  const open = () => PostgresEventStore.open({ ...quiet, connection: postgresConnection(), schema: contractSchema });
  return { store: await open(), reopen: open, cleanup: async () => undefined };
});

describe('PostgresEventStore', () => {
  const opened: PostgresEventStore[] = [];
  async function open(schema: string, options: PostgresEventStoreOptions = {}): Promise<PostgresEventStore> {
    const store = await PostgresEventStore.open({ ...quiet, ...options, connection: postgresConnection(options.connection), schema });
    opened.push(store);
    return store;
  }

  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
  });

  it('numbers the global log from 1 without holes, even where appends were rolled back', async () => {
    const store = await open(freshSchema('numbering'));
    const stream = uniqueName('numbered');

    expect((await store.append(stream, newEvents(2), 'no-stream')).position).toBe(2);
    await expect(store.append(stream, newEvents(3), 'no-stream')).rejects.toBeInstanceOf(WrongExpectedRevisionError);
    await expect(store.append(stream, [newEvent({ data: { size: 1n } })], 1)).rejects.toThrow(TypeError);
    await expect(
      store.append(uniqueName('other'), [newEvent(), newEvent({ id: (await store.readStream(stream))[0].id })], 'any'),
    ).rejects.toThrow();
    expect((await store.append(stream, newEvents(1), 1)).position).toBe(3);

    expect(positionsOf(await readAllAfter(store, 0))).toEqual([1, 2, 3]);
  });

  it('creates its schema once when several instances open a new one at the same time, and opens it again later', async () => {
    const schema = freshSchema('migration');

    const stores = await Promise.all(Array.from({ length: 5 }, () => open(schema)));
    await stores[0].append(uniqueName('migrated'), newEvents(1), 'no-stream');

    expect(await (await open(schema)).readAll(0, 10)).toHaveLength(1);
  });

  it('refuses a schema whose version is newer than it knows', async () => {
    const schema = freshSchema('newer');
    await (await open(schema)).close();
    await withClient((client) => client.query(`UPDATE ${escapeIdentifier(schema)}.event_store_schema SET version = 99`));

    await expect(PostgresEventStore.open({ connection: postgresConnection(), schema })).rejects.toThrow(/schema version 99/);
  });

  it('rejects a schema name that is not a plain identifier', async () => {
    await expect(PostgresEventStore.open({ connection: postgresConnection(), schema: 'x; DROP TABLE y' })).rejects.toThrow(RangeError);
  });

  describe('transactions that commit out of position order', () => {
    it(`never lets a subscriber skip an event: ${WRITERS} writers on their own connections, some holding their transaction open before commit`, async () => {
      const schema = freshSchema('out_of_order');
      // Four instances, as if four service processes, with a connection for each of their five writers.
      const writerStores = await Promise.all(Array.from({ length: 4 }, () => open(schema, { connection: { max: WRITERS / 4 } })));
      const reader = await open(schema);
      await installSleepBeforeCommit(schema);

      const outcome = await runOutOfOrderScenario(
        async (writer, stream, events, expected) => (await writerStores[writer % 4].append(stream, events, expected)).nextExpectedRevision,
        reader,
      );

      expect(outcome.slowAppends).toBeGreaterThan(0);
      const seen = new Set(idsOf(outcome.seen));
      expect([...outcome.written.values()].flat().filter((id) => !seen.has(id))).toEqual([]);
      expectStrictlyIncreasing(positionsOf(outcome.seen));
      expect(new Set(idsOf(outcome.seen)).size).toBe(outcome.seen.length);
      expect([...idsOf(outcome.seen)].sort()).toEqual([...outcome.written.values()].flat().sort());
      for (const [stream, ids] of outcome.written) {
        const events = inStreams(outcome.seen, stream);
        expect(idsOf(events)).toEqual(ids);
        expect(events.map((event) => event.revision)).toEqual([...ids.keys()]);
      }
      // Nothing else writes to this schema: the log is 1..n, with no hole.
      expect(positionsOf(outcome.seen)).toEqual(outcome.seen.map((_, index) => index + 1));
      // The sleeps happened while the log head was locked, one after the other.
      expect(outcome.elapsedMs).toBeGreaterThanOrEqual(outcome.sleptMs);
    });

    // The scenario above is only worth something if it catches a store that does not serialise:
    // here the same writers take their positions from a sequence, as a naive store would.
    it('catches a naive store: with positions from a sequence the same subscriber skips events', async () => {
      const schema = freshSchema('naive');
      const reader = await open(schema);
      const s = escapeIdentifier(schema);
      await withClient((client) => client.query(`CREATE SEQUENCE ${s}.naive_positions`));
      await installSleepBeforeCommit(schema);
      const pool = new Pool(postgresConnection({ max: WRITERS }));
      try {
        const outcome = await runOutOfOrderScenario(
          (_, stream, events, expected) => naiveAppend(pool, s, stream, events, expected),
          reader,
        );

        await expectSkipped(reader, outcome);
      } finally {
        await pool.end();
      }
    });

    // Why this store does not use the transaction-id scheme ordered by position (readAll only
    // returning rows whose transaction id is below the snapshot's xmin): a transaction gets its
    // id at its first write and a position at each insert, so one with a lower id can hold a
    // higher position and commit first. The interleaving, step by step, on two connections:
    it('shows the transaction-id filter alone, ordered by position, letting a subscriber skip an event', async () => {
      const schema = freshSchema('naive_xid');
      await open(schema);
      const s = escapeIdentifier(schema);
      await withClient(async (client) => {
        await client.query(`CREATE SEQUENCE ${s}.naive_positions`);
        await client.query(`ALTER TABLE ${s}.events ADD COLUMN transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id()`);
      });
      const pool = new Pool(postgresConnection({ max: 3 }));
      const [first, second] = [await pool.connect(), await pool.connect()];
      const visibleAfter = async (afterPosition: number) => {
        const { rows } = await pool.query<{ position: string }>(
          `SELECT position FROM ${s}.events
           WHERE position > $1 AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
           ORDER BY position`,
          [afterPosition],
        );
        return rows.map((row) => Number(row.position));
      };
      try {
        await first.query('BEGIN');
        await insertNaively(first, s, 'first', 0, newEvent()); // the lower transaction id, position 1
        await second.query('BEGIN');
        await insertNaively(second, s, 'second', 0, newEvent()); // a higher transaction id, position 2
        await insertNaively(first, s, 'first', 1, newEvent()); // position 3
        await first.query('COMMIT');

        // (xmin is cluster-wide: an older transaction elsewhere would only delay this.)
        let read: number[] = [];
        await eventually(async () => (read = await visibleAfter(0)).length > 0, 'the first transaction is below xmin');
        expect(read).toEqual([1, 3]);
        await second.query('COMMIT');

        await eventually(async () => (await visibleAfter(0)).length === 3, 'both transactions are below xmin');
        // A subscriber whose checkpoint is 3 never sees position 2.
        expect(await visibleAfter(3)).toEqual([]);
      } finally {
        first.release();
        second.release();
        await pool.end();
      }
    });
  });

  describe('notifications', () => {
    it('wakes a subscriber of another instance (LISTEN/NOTIFY), for committed appends only', async () => {
      const schema = freshSchema('notify');
      const [writer, watcher] = [await open(schema), await open(schema)];
      const wakes: number[] = [];
      let wake: () => void = () => undefined;
      watcher.onAppended(() => {
        wakes.push(Date.now());
        wake();
      });
      const woken = () => new Promise<void>((resolve) => (wake = resolve));
      const stream = uniqueName('notified');

      const first = woken();
      await writer.append(stream, newEvents(1), 'no-stream');
      await withTimeout(first, 'the first notification');
      expect(idsOf(await watcher.readStream(stream))).toHaveLength(1);

      // A conflict rolls back, and its NOTIFY with it; notifications arrive in commit order, so
      // had it been sent it would arrive before the next append's.
      await expect(writer.append(stream, newEvents(1), 'no-stream')).rejects.toBeInstanceOf(WrongExpectedRevisionError);
      const second = woken();
      await writer.append(stream, newEvents(1), 0);
      await withTimeout(second, 'the second notification');
      expect(wakes).toHaveLength(2);
    });

    it("does not call a listener twice for its own instance's append", async () => {
      const store = await open(freshSchema('own'));
      const other = await open(store.schema);
      let calls = 0;
      store.onAppended(() => calls++);
      let otherWoken: () => void = () => undefined;
      const otherHeard = new Promise<void>((resolve) => (otherWoken = resolve));
      other.onAppended(() => otherWoken());

      await store.append(uniqueName('own'), newEvents(1), 'no-stream');
      // Once another instance has heard the NOTIFY, this one has received it too.
      await withTimeout(otherHeard, 'the other instance to hear the append');
      await delay(100);

      expect(calls).toBe(1);
    });

    it('listens again after its connection was lost, and wakes subscribers for what it may have missed', async () => {
      const schema = freshSchema('relisten');
      const applicationName = `custodia-it-${randomUUID().slice(0, 8)}`;
      const errors: unknown[] = [];
      const watcher = await open(schema, {
        connection: { application_name: applicationName },
        listenRetryDelayMs: 20,
        onConnectionError: (error) => errors.push(error),
      });
      const writer = await open(schema);
      await watcher.readAll(0, 1);
      let wakes = 0;
      watcher.onAppended(() => wakes++);

      await withClient((client) =>
        client.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [applicationName]),
      );
      await eventually(
        async () => (await backendsOf(applicationName)).some((backend) => backend.query.startsWith('LISTEN')) && wakes > 0,
        'the watcher listens again',
      );
      expect(errors.length).toBeGreaterThan(0);

      const before = wakes;
      const stream = uniqueName('after-reconnect');
      await writer.append(stream, newEvents(1), 'no-stream');
      await eventually(async () => wakes > before, 'the watcher hears an append made after reconnecting');
      expect(idsOf(await watcher.readStream(stream))).toHaveLength(1);
    });
  });

  it('closes its pool and its listening connection', async () => {
    const applicationName = `custodia-it-${randomUUID().slice(0, 8)}`;
    const store = await PostgresEventStore.open({
      connection: postgresConnection({ application_name: applicationName }),
      schema: freshSchema('close'),
    });
    await Promise.all([store.append(uniqueName('closing'), newEvents(1), 'no-stream'), store.readAll(0, 1), store.load('x')]);
    expect((await backendsOf(applicationName)).length).toBeGreaterThanOrEqual(2);

    await store.close();
    await store.close();

    await eventually(async () => (await backendsOf(applicationName)).length === 0, 'every connection is closed');
  });
});

/**
 * A deferred constraint trigger runs at COMMIT, after the append's statements: an append holding
 * a SlowCommitRequested event keeps its transaction (and whatever positions it took) open for
 * data.sleepMs before it commits, whichever store wrote it.
 */
async function installSleepBeforeCommit(schema: string): Promise<void> {
  const s = escapeIdentifier(schema);
  await withClient(async (client) => {
    await client.query(
      `CREATE FUNCTION ${s}.sleep_before_commit() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         PERFORM pg_sleep((NEW.data ->> 'sleepMs')::float8 / 1000);
         RETURN NULL;
       END $$`,
    );
    await client.query(
      `CREATE CONSTRAINT TRIGGER sleep_before_commit AFTER INSERT ON ${s}.events
       DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.type = '${SLOW_EVENT_TYPE}')
       EXECUTE FUNCTION ${s}.sleep_before_commit()`,
    );
  });
}

/** The subscriber missed events, and not because they came late: each lies below a position it had already passed. */
async function expectSkipped(store: Store, outcome: ScenarioOutcome): Promise<void> {
  const everything = await readAllAfter(store, 0);
  const seen = new Set(idsOf(outcome.seen));
  const skipped = everything.filter((event) => !seen.has(event.id));
  expect(everything).toHaveLength([...outcome.written.values()].flat().length);
  expect(skipped.length).toBeGreaterThan(0);
  const passed = outcome.seen.at(-1)?.position ?? 0;
  for (const event of skipped) expect(event.position).toBeLessThan(passed);
}

type Appender = (writer: number, stream: string, events: NewEvent[], expected: ExpectedRevision) => Promise<number>;

interface ScenarioOutcome {
  /** Each stream's event ids, in append order. */
  written: Map<string, string[]>;
  /** What the subscriber read, in the order it read it. */
  seen: RecordedEvent[];
  slowAppends: number;
  sleptMs: number;
  elapsedMs: number;
}

/**
 * WRITERS writers append concurrently to streams of their own, every fourth append holding its
 * transaction open for 20 to 100 ms before committing, while a subscriber polls readAll from its
 * checkpoint (saving it after each page) until the writers are done and nothing is left.
 */
async function runOutOfOrderScenario(append: Appender, reader: Store): Promise<ScenarioOutcome> {
  const subscription = uniqueName('subscriber');
  const written = new Map<string, string[]>();
  let slowAppends = 0;
  let sleptMs = 0;
  let writing = true;
  const started = Date.now();

  const writers = Promise.all(
    Array.from({ length: WRITERS }, async (_, writer) => {
      const stream = uniqueName(`writer-${writer}`);
      const ids: string[] = [];
      written.set(stream, ids);
      let expected: ExpectedRevision = 'no-stream';
      for (let round = 0; round < APPENDS_PER_WRITER; round++) {
        await nextTick();
        const events = newEvents(1 + ((writer + round) % 3));
        if ((writer + round) % 4 === 0) {
          const sleepMs = 20 + ((writer * 7 + round * 13) % 5) * 20;
          events[0] = newEvent({ type: SLOW_EVENT_TYPE, data: { sleepMs } });
          slowAppends += 1;
          sleptMs += sleepMs;
        }
        expected = await append(writer, stream, events, expected);
        ids.push(...idsOf(events));
      }
    }),
  ).finally(() => {
    writing = false;
  });

  const seen: RecordedEvent[] = [];
  const subscriber = (async () => {
    for (;;) {
      // Sampled before the read: an empty page read after the last append resolved proves the end.
      const lastRound = !writing;
      const checkpoint = await reader.load(subscription);
      const page = await reader.readAll(checkpoint, READER_PAGE_SIZE);
      if (page.length > 0) {
        seen.push(...page);
        await reader.save(subscription, page.at(-1)!.position);
      } else if (lastRound) {
        return;
      }
      await nextTick();
    }
  })();

  await Promise.all([writers, subscriber]);
  return { written, seen, slowAppends, sleptMs, elapsedMs: Date.now() - started };
}

/** What a store without serialised appends does: positions from a sequence, taken when inserting, visible when committing. */
async function naiveAppend(pool: Pool, s: string, stream: string, events: NewEvent[], expected: ExpectedRevision): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    let revision = expected === 'no-stream' ? -1 : Number(expected);
    for (const event of events) await insertNaively(client, s, stream, ++revision, event);
    await client.query('COMMIT');
    return revision;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
}

/** One event, its position from a sequence: taken now, visible when the transaction commits. */
async function insertNaively(client: PoolClient, s: string, stream: string, revision: number, event: NewEvent): Promise<void> {
  await client.query(
    `INSERT INTO ${s}.events (position, id, stream, revision, type, schema_version, occurred_at, data, metadata)
     VALUES (nextval('${s}.naive_positions'), $1, $2, $3, $4, $5, $6, $7, $8)`,
    [
      event.id,
      stream,
      revision,
      event.type,
      event.schemaVersion,
      event.occurredAt,
      JSON.stringify(event.data),
      JSON.stringify(event.metadata),
    ],
  );
}

async function withTimeout(promise: Promise<void>, what: string, ms = 10_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
