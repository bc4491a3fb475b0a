import type { ExpectedRevision, RecordedEvent } from '../../../src/application/ports/event-store';
import { expectStrictlyIncreasing, idsOf, inStreams, logHead, newEvents, nextTick, positionsOf, uniqueName } from './fixtures';
import type { Store, StoreUnderTest } from './store-under-test';

const WRITERS = 20;
const EVENTS_PER_WRITER = 25;
const READER_PAGE_SIZE = 7;

export function subscriptionCases(subject: () => StoreUnderTest): void {
  describe('subscriptions', () => {
    it('calls onAppended listeners once an append has committed, until they unsubscribe', async () => {
      const { store } = subject();
      const stream = uniqueName('notified');
      const readsFromListener: Promise<RecordedEvent[]>[] = [];
      const unsubscribe = store.onAppended(() => readsFromListener.push(store.readStream(stream)));
      const events = newEvents(2);

      await store.append(stream, events, 'no-stream');

      expect(readsFromListener.length).toBeGreaterThanOrEqual(1);
      expect(idsOf(await readsFromListener[0])).toEqual(idsOf(events));
      const callsBefore = readsFromListener.length;
      unsubscribe();
      await store.append(stream, newEvents(1), 1);
      expect(readsFromListener).toHaveLength(callsBefore);
    });

    it('still appends, and still calls the other listeners, when a listener throws', async () => {
      const { store } = subject();
      const stream = uniqueName('listener-throws');
      const calls: string[] = [];
      const unsubscribeFailing = store.onAppended(() => {
        calls.push('failing');
        throw new Error('listener failure (expected by the test)');
      });
      const unsubscribeHealthy = store.onAppended(() => calls.push('healthy'));

      const result = await store.append(stream, newEvents(1), 'no-stream');

      expect(result.nextExpectedRevision).toBe(0);
      expect(calls).toEqual(expect.arrayContaining(['failing', 'healthy']));
      expect(await store.readStream(stream)).toHaveLength(1);
      unsubscribeFailing();
      unsubscribeHealthy();
    });

    it(`lets a catch-up reader polling from its checkpoint see every event of ${WRITERS} concurrent writers exactly once, in position order`, async () => {
      const { store } = subject();
      const subscription = uniqueName('catch-up');
      const streams = Array.from({ length: WRITERS }, () => uniqueName('writer'));
      await store.save(subscription, await logHead(store));

      let writing = true;
      const writers = Promise.all(streams.map((stream, writer) => writeInSmallBatches(store, stream, writer))).finally(() => {
        writing = false;
      });
      const reader = catchUp(store, subscription, () => writing);
      const [written, seen] = await Promise.all([writers, reader]);

      expectStrictlyIncreasing(positionsOf(seen));
      const ours = inStreams(seen, ...streams);
      expect(ours).toHaveLength(WRITERS * EVENTS_PER_WRITER);
      expect(new Set(idsOf(ours)).size).toBe(ours.length);
      expect([...idsOf(ours)].sort()).toEqual(written.flat().sort());
      for (const stream of streams) {
        expect(inStreams(ours, stream).map((event) => event.revision)).toEqual([...Array(EVENTS_PER_WRITER).keys()]);
      }
      expect(await store.load(subscription)).toBe(seen.at(-1)!.position);
    });
  });
}

/** Appends EVENTS_PER_WRITER events in batches of 1 to 3, yielding before each; returns their ids. */
async function writeInSmallBatches(store: Store, stream: string, writer: number): Promise<string[]> {
  const written: string[] = [];
  let expected: ExpectedRevision = 'no-stream';
  while (written.length < EVENTS_PER_WRITER) {
    await nextTick();
    const batch = newEvents(Math.min(1 + ((writer + written.length) % 3), EVENTS_PER_WRITER - written.length));
    expected = (await store.append(stream, batch, expected)).nextExpectedRevision;
    written.push(...idsOf(batch));
  }
  return written;
}

/** Polls readAll from the saved checkpoint, saving after each page, until the writers are done and nothing is left. */
async function catchUp(store: Store, subscription: string, writing: () => boolean): Promise<RecordedEvent[]> {
  const seen: RecordedEvent[] = [];
  for (;;) {
    // Sampled before the read: an empty page read after the last append resolved proves the end.
    const lastRound = !writing();
    const checkpoint = await store.load(subscription);
    const page = await store.readAll(checkpoint, READER_PAGE_SIZE);
    if (page.length > 0) {
      expect(page[0].position).toBeGreaterThan(checkpoint);
      seen.push(...page);
      await store.save(subscription, page.at(-1)!.position);
    } else if (lastRound) {
      return seen;
    }
    await nextTick();
  }
}
