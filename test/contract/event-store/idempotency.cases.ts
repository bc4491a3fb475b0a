import { ExpectedRevision, WrongExpectedRevisionError } from '../../../src/application/ports/event-store';
import { idsOf, inStreams, logHead, newEvents, readAllAfter, uniqueName } from './fixtures';
import type { StoreUnderTest } from './store-under-test';

/** A command handler retries an append whose outcome it never saw: the retry must not duplicate. */
export function idempotencyCases(subject: () => StoreUnderTest): void {
  describe('idempotent appends', () => {
    it('returns the first result for a repeated append of the same event and stores it once', async () => {
      const { store } = subject();
      const stream = uniqueName('retry');
      const head = await logHead(store);
      const events = newEvents(1);

      const first = await store.append(stream, events, 'no-stream');
      const repeat = await store.append(stream, events, 'no-stream');

      expect(repeat).toEqual(first);
      expect(idsOf(await store.readStream(stream))).toEqual(idsOf(events));
      expect(idsOf(inStreams(await readAllAfter(store, head), stream))).toEqual(idsOf(events));
    });

    it.each([{ expected: 0 as ExpectedRevision }, { expected: 'any' as ExpectedRevision }])(
      'returns the first result for a repeated multi-event append (repeat expecting $expected)',
      async ({ expected }) => {
        const { store } = subject();
        const stream = uniqueName('retry-batch');
        const [first] = newEvents(1);
        await store.append(stream, [first], 'no-stream');
        const batch = newEvents(3);

        const original = await store.append(stream, batch, 0);
        const repeat = await store.append(stream, batch, expected);

        expect(repeat).toEqual(original);
        expect(idsOf(await store.readStream(stream))).toEqual(idsOf([first, ...batch]));
      },
    );

    it('returns the original result for a repeat that arrives after later appends', async () => {
      const { store } = subject();
      const stream = uniqueName('late-retry');
      const batch = newEvents(2);
      const later = newEvents(1);

      const original = await store.append(stream, batch, 'no-stream');
      await store.append(stream, later, original.nextExpectedRevision);
      const repeat = await store.append(stream, batch, 'no-stream');

      expect(repeat).toEqual(original);
      expect(idsOf(await store.readStream(stream))).toEqual(idsOf([...batch, ...later]));
    });

    it.each([{ expected: 'no-stream' as ExpectedRevision }, { expected: 0 as ExpectedRevision }, { expected: 'any' as ExpectedRevision }])(
      'rejects a mix of stored and new ids (expecting $expected) as a conflict and writes nothing',
      async ({ expected }) => {
        const { store } = subject();
        const stream = uniqueName('mixed');
        const [stored, fresh] = newEvents(2);
        await store.append(stream, [stored], 'no-stream');
        const head = await logHead(store);

        const append = store.append(stream, [stored, fresh], expected);

        await expect(append).rejects.toBeInstanceOf(WrongExpectedRevisionError);
        await expect(append).rejects.toMatchObject({ stream, actual: 0 });
        expect(idsOf(await store.readStream(stream))).toEqual([stored.id]);
        expect(inStreams(await readAllAfter(store, head), stream)).toEqual([]);
      },
    );

    it('rejects an event whose id is already stored in another stream and writes nothing', async () => {
      const { store } = subject();
      const [owner, other] = [uniqueName('owner'), uniqueName('other')];
      const events = newEvents(1);
      await store.append(owner, events, 'no-stream');
      const head = await logHead(store);

      await expect(store.append(other, events, 'no-stream')).rejects.toThrow();

      expect(await store.readStream(other)).toEqual([]);
      expect(idsOf(await store.readStream(owner))).toEqual(idsOf(events));
      expect(inStreams(await readAllAfter(store, head), owner, other)).toEqual([]);
    });
  });
}
