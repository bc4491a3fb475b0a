import { ExpectedRevision, WrongExpectedRevisionError } from '../../../src/application/ports/event-store';
import { idsOf, inStreams, logHead, newEvent, newEvents, readAllAfter, uniqueName } from './fixtures';
import type { Store, StoreUnderTest } from './store-under-test';

export function appendingCases(subject: () => StoreUnderTest): void {
  describe('appending', () => {
    it("appends to a new stream when expecting 'no-stream'", async () => {
      const { store } = subject();
      const stream = uniqueName('new');
      const events = newEvents(2);

      const result = await store.append(stream, events, 'no-stream');

      const stored = await store.readStream(stream);
      expect(idsOf(stored)).toEqual(idsOf(events));
      expect(stored.map((event) => event.revision)).toEqual([0, 1]);
      expect(result).toEqual({ nextExpectedRevision: 1, position: stored[1].position });
    });

    it("appends when the expected revision is the stream's last revision", async () => {
      const { store } = subject();
      const stream = uniqueName('expected');
      const [first, second, third, fourth] = newEvents(4);

      expect((await store.append(stream, [first], 'no-stream')).nextExpectedRevision).toBe(0);
      expect((await store.append(stream, [second, third], 0)).nextExpectedRevision).toBe(2);
      expect((await store.append(stream, [fourth], 2)).nextExpectedRevision).toBe(3);

      expect(idsOf(await store.readStream(stream))).toEqual(idsOf([first, second, third, fourth]));
    });

    it("appends with 'any' to a missing stream and to an existing one", async () => {
      const { store } = subject();
      const stream = uniqueName('any');
      const [first, second] = newEvents(2);

      expect((await store.append(stream, [first], 'any')).nextExpectedRevision).toBe(0);
      expect((await store.append(stream, [second], 'any')).nextExpectedRevision).toBe(1);

      expect(idsOf(await store.readStream(stream))).toEqual(idsOf([first, second]));
    });

    const conflicts: { case: string; existing: number; expected: ExpectedRevision; actual: number | 'no-stream' }[] = [
      { case: 'a revision behind the stream', existing: 2, expected: 0, actual: 1 },
      { case: 'a revision ahead of the stream', existing: 2, expected: 5, actual: 1 },
      { case: "'no-stream' for an existing stream", existing: 1, expected: 'no-stream', actual: 0 },
      { case: 'a revision for a missing stream', existing: 0, expected: 0, actual: 'no-stream' },
    ];

    it.each(conflicts)('rejects $case with WrongExpectedRevisionError and writes nothing', async ({ existing, expected, actual }) => {
      const { store } = subject();
      const stream = uniqueName('conflict');
      const before = newEvents(existing);
      if (existing > 0) await store.append(stream, before, 'no-stream');
      const head = await logHead(store);

      const append = store.append(stream, newEvents(2), expected);

      await expect(append).rejects.toBeInstanceOf(WrongExpectedRevisionError);
      await expect(append).rejects.toMatchObject({ stream, expected, actual });
      expect(idsOf(await store.readStream(stream))).toEqual(idsOf(before));
      expect(inStreams(await readAllAfter(store, head), stream)).toEqual([]);
    });

    it.each([
      { case: 'an existing stream', existing: 1, expected: 0 as ExpectedRevision },
      { case: 'a new stream', existing: 0, expected: 'no-stream' as ExpectedRevision },
    ])('lets exactly one of concurrent appends with the same expected revision win, on $case', async ({ existing, expected }) => {
      const { store } = subject();
      const stream = uniqueName('race');
      const before = newEvents(existing);
      if (existing > 0) await store.append(stream, before, 'no-stream');
      const contenders = Array.from({ length: 10 }, () => newEvents(2));

      const outcomes = await Promise.allSettled(contenders.map((events) => store.append(stream, events, expected)));

      const winners = contenders.filter((_, index) => outcomes[index].status === 'fulfilled');
      const losers = outcomes.filter((outcome) => outcome.status === 'rejected');
      expect(winners).toHaveLength(1);
      for (const loser of losers) expect(loser.reason).toBeInstanceOf(WrongExpectedRevisionError);
      expect(idsOf(await store.readStream(stream))).toEqual([...idsOf(before), ...idsOf(winners[0])]);
    });

    it.each([
      { case: 'its data is not representable as JSON', poison: () => newEvent({ data: { size: 1n } }) },
      { case: 'its id is already used in another stream', poison: (store: Store) => usedElsewhere(store) },
    ])('appends several events atomically: nothing is written when the last fails because $case', async ({ poison }) => {
      const { store } = subject();
      const stream = uniqueName('atomic');
      const [first] = newEvents(1);
      await store.append(stream, [first], 'no-stream');
      const batch = [...newEvents(3), await poison(store)];
      const head = await logHead(store);

      await expect(store.append(stream, batch, 0)).rejects.toThrow();

      expect(idsOf(await store.readStream(stream))).toEqual([first.id]);
      expect(inStreams(await readAllAfter(store, head), stream)).toEqual([]);
    });
  });
}

async function usedElsewhere(store: Store) {
  const event = newEvent();
  await store.append(uniqueName('elsewhere'), [event], 'no-stream');
  return { ...newEvent(), id: event.id };
}
