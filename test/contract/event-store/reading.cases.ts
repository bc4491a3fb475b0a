import type { NewEvent, RecordedEvent } from '../../../src/application/ports/event-store';
import {
  expectStrictlyIncreasing,
  idsOf,
  inStreams,
  logHead,
  newEvent,
  newEvents,
  positionsOf,
  readAllAfter,
  uniqueName,
} from './fixtures';
import type { StoreUnderTest } from './store-under-test';

export function readingCases(subject: () => StoreUnderTest): void {
  describe('reading', () => {
    it('numbers a stream 0..n-1 across appends and gives every event a position, strictly increasing in append order', async () => {
      const { store } = subject();
      const streams = [uniqueName('order-a'), uniqueName('order-b'), uniqueName('order-c')];
      const head = await logHead(store);
      const appended: NewEvent[] = [];
      const expected = new Map<string, number | 'no-stream'>(streams.map((stream) => [stream, 'no-stream']));
      for (let round = 0; round < 4; round++) {
        for (const stream of streams) {
          const events = newEvents(1 + ((round + streams.indexOf(stream)) % 3));
          const result = await store.append(stream, events, expected.get(stream)!);
          expected.set(stream, result.nextExpectedRevision);
          appended.push(...events);
        }
      }

      const log = inStreams(await readAllAfter(store, head), ...streams);
      expect(idsOf(log)).toEqual(idsOf(appended));
      expectStrictlyIncreasing(positionsOf(log));
      for (const stream of streams) {
        const events = await store.readStream(stream);
        expect(events.map((event) => event.revision)).toEqual(events.map((_, index) => index));
        expect(events).toEqual(log.filter((event) => event.stream === stream));
      }
    });

    it.each([1, 2, 5, 16, 17, 100])('pages through the global log with limit %i, returning each event exactly once', async (limit) => {
      const { store } = subject();
      const stream = uniqueName('paging');
      const head = await logHead(store);
      for (const size of [5, 1, 7, 4]) await store.append(stream, newEvents(size), 'any');
      const everything = await store.readAll(head, 1000);

      const pages: RecordedEvent[][] = [];
      for (let after = head; ; after = pages.at(-1)!.at(-1)!.position) {
        const page = await store.readAll(after, limit);
        if (page.length === 0) break;
        expect(page.length).toBeLessThanOrEqual(limit);
        expect(page[0].position).toBeGreaterThan(after);
        pages.push(page);
      }

      const paged = pages.flat();
      expect(inStreams(paged, stream)).toEqual(inStreams(everything, stream));
      expect(inStreams(paged, stream)).toHaveLength(17);
      expectStrictlyIncreasing(positionsOf(paged));
    });

    it('returns nothing from readAll with limit 0 or past the end of the log', async () => {
      const { store } = subject();
      const stream = uniqueName('end');
      const head = await logHead(store);
      const { position } = await store.append(stream, newEvents(3), 'no-stream');

      expect(await store.readAll(head, 0)).toEqual([]);
      expect(inStreams(await store.readAll(position, 10), stream)).toEqual([]);
    });

    it('reads a stream from a given revision', async () => {
      const { store } = subject();
      const stream = uniqueName('from-revision');
      await store.append(stream, newEvents(5), 'no-stream');
      const revisionsFrom = async (fromRevision?: number) => (await store.readStream(stream, fromRevision)).map((event) => event.revision);

      expect(await revisionsFrom()).toEqual([0, 1, 2, 3, 4]);
      expect(await revisionsFrom(0)).toEqual([0, 1, 2, 3, 4]);
      expect(await revisionsFrom(2)).toEqual([2, 3, 4]);
      expect(await revisionsFrom(4)).toEqual([4]);
      expect(await revisionsFrom(5)).toEqual([]);
      expect(await revisionsFrom(99)).toEqual([]);
    });

    it('reads a missing stream as empty', async () => {
      expect(await subject().store.readStream(uniqueName('missing'))).toEqual([]);
    });

    it('gives back data, metadata, type, schema version and occurrence time exactly as appended', async () => {
      const { store } = subject();
      const stream = uniqueName('round-trip');
      const head = await logHead(store);
      const events = [
        newEvent({
          type: 'BackupCompleted',
          schemaVersion: 3,
          occurredAt: '2025-02-03T04:05:06.789Z',
          data: {
            text: 'quotes " \\ and\nnewlines, ünïcödé, 日本語, emoji 🗄️',
            numbers: [0, -1, 0.1, 1e21, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER],
            flags: { yes: true, no: false, nothing: null },
            nested: { empty: {}, list: [[], [{ deep: ['x'] }]] },
          },
          metadata: { correlationId: 'correlation-1', causationId: 'causation-1', actor: 'operator@example.org', role: 'dpo' },
        }),
        newEvent({ data: 'a bare string', metadata: { correlationId: 'correlation-2', causationId: null, actor: 'system' } }),
        newEvent({ data: [1, 'two', null], schemaVersion: 2 }),
        newEvent({ data: null }),
      ];

      const result = await store.append(stream, events, 'no-stream');

      const stored = await store.readStream(stream);
      const expected = events.map((event, revision) => ({ ...event, stream, revision, position: stored[revision].position }));
      expect(stored).toStrictEqual(expected);
      expect(inStreams(await readAllAfter(store, head), stream)).toStrictEqual(expected);
      expect(result).toEqual({ nextExpectedRevision: 3, position: stored[3].position });
    });
  });
}
