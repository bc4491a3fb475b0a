import * as path from 'node:path';
import { toNewEvents, userContext } from '../../src/application/event-envelope';
import { RecordedEvent } from '../../src/application/ports/event-store';
import { CatchUpSubscription, SubscriptionOptions } from '../../src/application/subscriptions/catch-up-subscription';
import { SqliteEventStore } from '../../src/infrastructure/event-store/sqlite-event-store';
import { useTempDirs } from '../support/temp-dirs';

const AT = '2030-01-01T00:00:00.000Z';
const NAME = 'test-subscriber';
/** Longer than any test: a subscription only moves on when an append wakes it or it is started. */
const NEVER_POLL_MS = 60 * 60 * 1000;

/**
 * The catch-up subscription on the real SQLite log and its checkpoint table. Every test waits on
 * the subscription's own signal (waitFor) or on promises the handler resolves, never on time.
 */
describe('CatchUpSubscription on the SQLite event store', () => {
  const tempDir = useTempDirs();
  let store: SqliteEventStore;
  let subscriptions: CatchUpSubscription[];

  beforeEach(async () => {
    store = await SqliteEventStore.open(path.join(await tempDir('subscription'), 'events.db'));
    subscriptions = [];
  });

  afterEach(async () => {
    for (const subscription of subscriptions) await subscription.stop();
    await store.close();
  });

  /** Appends `count` events, each to its own source stream; returns their positions. */
  const appendEvents = async (count: number): Promise<number[]> => {
    const positions: number[] = [];
    for (let i = 0; i < count; i++) {
      const sourceId = `source-${positions.length}-${Math.random().toString(36).slice(2)}`;
      const events = toNewEvents(
        [{ type: 'SourceRegistered', data: { sourceId, name: sourceId, path: '/data', at: AT } }],
        userContext('alice'),
        AT,
      );
      positions.push((await store.append(`source-${sourceId}`, events, 'no-stream')).position);
    }
    return positions;
  };

  /** A handler that records each batch it was given and saves the checkpoint, as a real one must. */
  const recorder = () => {
    const batches: number[][] = [];
    const handleBatch = async (events: RecordedEvent[]) => {
      batches.push(events.map((event) => event.position));
      await store.save(NAME, events[events.length - 1].position);
    };
    return { batches, handleBatch, handled: () => batches.flat() };
  };

  const subscribe = (options: Partial<SubscriptionOptions> & Pick<SubscriptionOptions, 'handleBatch'>) => {
    const subscription = new CatchUpSubscription(NAME, store, {
      loadCheckpoint: () => store.load(NAME),
      pollIntervalMs: NEVER_POLL_MS,
      retryBackoff: { kind: 'none' },
      ...options,
    });
    subscriptions.push(subscription);
    return subscription;
  };

  it('delivers every event after the checkpoint, in position order', async () => {
    const positions = await appendEvents(10);
    await store.save(NAME, positions[3]);
    const { handled, handleBatch } = recorder();

    const subscription = subscribe({ handleBatch });
    subscription.start();
    await subscription.waitFor(positions[9]);

    expect(handled()).toEqual(positions.slice(4));
    expect(subscription.handledPosition).toBe(positions[9]);
    expect(await store.load(NAME)).toBe(positions[9]);
  });

  it('delivers events appended while it runs, woken by the append', async () => {
    const { handled, handleBatch } = recorder();
    const subscription = subscribe({ handleBatch });
    subscription.start();
    await subscription.waitFor(0);

    const first = await appendEvents(3);
    await subscription.waitFor(first[2]);
    const second = await appendEvents(2);
    await subscription.waitFor(second[1]);

    expect(handled()).toEqual([...first, ...second]);
  });

  it('reads its checkpoint when it starts and after a failed batch, not on every wake-up', async () => {
    let loads = 0;
    let failNext = false;
    const { handled, handleBatch } = recorder();
    const subscription = subscribe({
      loadCheckpoint: async () => {
        loads += 1;
        return store.load(NAME);
      },
      handleBatch: async (events) => {
        if (failNext) {
          failNext = false;
          throw new Error('one failing batch (expected by the test)');
        }
        await handleBatch(events);
      },
    });
    subscription.start();
    await subscription.waitFor(0);
    for (let round = 0; round < 3; round++) await subscription.waitFor((await appendEvents(2))[1]);
    expect(loads).toBe(1);

    failNext = true;
    const after = await appendEvents(1);
    await subscription.waitFor(after[0]);
    expect(loads).toBe(2);
    expect(handled().at(-1)).toBe(after[0]);
  });

  it('resumes from the saved checkpoint after stop and start, handing nothing twice', async () => {
    const positions = await appendEvents(4);
    const { handled, handleBatch } = recorder();
    const subscription = subscribe({ handleBatch });
    subscription.start();
    await subscription.waitFor(positions[3]);
    await subscription.stop();

    const later = await appendEvents(3);
    expect(handled()).toEqual(positions);
    subscription.start();
    await subscription.waitFor(later[2]);
    expect(handled()).toEqual([...positions, ...later]);

    // A new subscription under the same name (a restarted process) starts from the checkpoint too.
    await subscription.stop();
    const more = await appendEvents(1);
    const fresh = recorder();
    const restarted = subscribe({ handleBatch: fresh.handleBatch });
    restarted.start();
    await restarted.waitFor(more[0]);
    expect(fresh.handled()).toEqual(more);
  });

  it('resolves waitFor only once the position is handled, and at once for one already handled', async () => {
    const positions = await appendEvents(3);
    const gate = new Map<number, () => void>();
    const entered: number[] = [];
    let enteredSignal: () => void = () => undefined;
    const handleBatch = async (events: RecordedEvent[]) => {
      const last = events[events.length - 1].position;
      entered.push(last);
      enteredSignal();
      await new Promise<void>((resolve) => gate.set(last, resolve));
      await store.save(NAME, last);
    };
    const subscription = subscribe({ handleBatch, batchSize: 1 });
    let done = false;
    const waiting = subscription.waitFor(positions[0]).then(() => (done = true));

    const enteredFirst = new Promise<void>((resolve) => (enteredSignal = resolve));
    subscription.start();
    await enteredFirst;
    // The first batch is being handled, not finished: waitFor has not resolved.
    await Promise.resolve();
    expect(done).toBe(false);
    expect(subscription.handledPosition).toBe(0);

    const enteredSecond = new Promise<void>((resolve) => (enteredSignal = resolve));
    gate.get(positions[0])!();
    await waiting;
    expect(subscription.handledPosition).toBe(positions[0]);
    await subscription.waitFor(positions[0]);

    await enteredSecond;
    const enteredThird = new Promise<void>((resolve) => (enteredSignal = resolve));
    gate.get(positions[1])!();
    await enteredThird;
    gate.get(positions[2])!();
    await subscription.waitFor(positions[2]);
    expect(entered).toEqual(positions);
  });

  it('retries a failing batch from the checkpoint and does not skip it', async () => {
    const positions = await appendEvents(6);
    const attempts: number[][] = [];
    const handled: number[] = [];
    let failuresLeft = 2;
    const handleBatch = async (events: RecordedEvent[]) => {
      const batch = events.map((event) => event.position);
      attempts.push(batch);
      // The batch holding the fourth event fails twice before it works.
      if (batch.includes(positions[3]) && failuresLeft > 0) {
        failuresLeft--;
        throw new Error('the read model is not reachable');
      }
      handled.push(...batch);
      await store.save(NAME, batch[batch.length - 1]);
    };

    const subscription = subscribe({ handleBatch, batchSize: 2 });
    subscription.start();
    await subscription.waitFor(positions[5]);

    const [a, b, c, d, e, f] = positions;
    expect(attempts).toEqual([
      [a, b],
      [c, d],
      [c, d],
      [c, d],
      [e, f],
    ]);
    expect(handled).toEqual(positions);
    expect(await store.load(NAME)).toBe(f);
  });

  it('does not move its position past a failed batch whose checkpoint was not saved', async () => {
    const positions = await appendEvents(3);
    let fail = true;
    let failed: () => void = () => undefined;
    const hasFailed = new Promise<void>((resolve) => (failed = resolve));
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    const handleBatch = async (events: RecordedEvent[]) => {
      if (fail) {
        fail = false;
        failed();
        throw new Error('first try fails');
      }
      // The retry is held until the test has looked at the position.
      await released;
      await store.save(NAME, events[events.length - 1].position);
    };

    const subscription = subscribe({ handleBatch });
    subscription.start();
    await hasFailed;
    expect(subscription.handledPosition).toBe(0);
    release();
    await subscription.waitFor(positions[2]);
    expect(await store.load(NAME)).toBe(positions[2]);
  });

  it('hands batches of at most batchSize events', async () => {
    const positions = await appendEvents(7);
    const { batches, handleBatch } = recorder();

    const subscription = subscribe({ handleBatch, batchSize: 3 });
    subscription.start();
    await subscription.waitFor(positions[6]);

    expect(batches).toEqual([positions.slice(0, 3), positions.slice(3, 6), positions.slice(6)]);
  });

  it('finishes the batch in progress when stopped, and hands no further one', async () => {
    const positions = await appendEvents(4);
    const batches: number[][] = [];
    let entered: () => void = () => undefined;
    const inFirst = new Promise<void>((resolve) => (entered = resolve));
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    const handleBatch = async (events: RecordedEvent[]) => {
      batches.push(events.map((event) => event.position));
      entered();
      await released;
      await store.save(NAME, events[events.length - 1].position);
    };

    const subscription = subscribe({ handleBatch, batchSize: 2 });
    subscription.start();
    await inFirst;
    const stopped = subscription.stop();
    release();
    await stopped;

    expect(batches).toEqual([positions.slice(0, 2)]);
    expect(await store.load(NAME)).toBe(positions[1]);
    expect(subscription.handledPosition).toBe(positions[1]);
  });

  it('stops without starting a retry wait when stopped during a batch that then fails', async () => {
    await appendEvents(1);
    let entered: () => void = () => undefined;
    const inBatch = new Promise<void>((resolve) => (entered = resolve));
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    let calls = 0;
    const handleBatch = async () => {
      calls++;
      entered();
      await released;
      throw new Error('fails after the stop');
    };
    // A retry wait of an hour: a stop that waited for it would time the test out.
    const subscription = subscribe({ handleBatch, retryBackoff: { kind: 'constant', delayMs: NEVER_POLL_MS } });
    subscription.start();
    await inBatch;
    const stopped = subscription.stop();
    release();
    await stopped;

    expect(calls).toBe(1);
    expect(subscription.handledPosition).toBe(0);
    expect(await store.load(NAME)).toBe(0);
  });
});
