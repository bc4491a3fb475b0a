import { idsOf, inStreams, logHead, newEvents, readAllAfter, uniqueName } from './fixtures';
import type { StoreUnderTest } from './store-under-test';

export function checkpointCases(subject: () => StoreUnderTest): void {
  describe('checkpoints', () => {
    it('loads 0 for a subscription that never saved one', async () => {
      expect(await subject().store.load(uniqueName('never-saved'))).toBe(0);
    });

    it('loads the position last saved, for each subscription separately', async () => {
      const { store } = subject();
      const [first, second] = [uniqueName('subscription'), uniqueName('subscription')];

      await store.save(first, 5);
      await store.save(second, 9);
      await store.save(first, 7);

      expect(await store.load(first)).toBe(7);
      expect(await store.load(second)).toBe(9);
    });

    it('never moves a checkpoint backwards: a save behind the one stored is ignored', async () => {
      const { store } = subject();
      const subscription = uniqueName('monotonic');

      await store.save(subscription, 9);
      await store.save(subscription, 4);
      expect(await store.load(subscription)).toBe(9);
      await store.save(subscription, 12);
      expect(await store.load(subscription)).toBe(12);
    });

    // Only adapters whose fixture can reopen the same database check this; the others pass it trivially.
    it('keeps checkpoints across closing and reopening, and reading resumes with exactly the events after them', async () => {
      const under = subject();
      if (!under.canReopen) return;
      const subscription = uniqueName('durable');
      const stream = uniqueName('durable');
      const head = await logHead(under.store);
      await under.store.append(stream, newEvents(5), 'no-stream');
      const written = inStreams(await readAllAfter(under.store, head), stream);
      await under.store.save(subscription, written[2].position);

      const reopened = await under.closeAndReopen();

      expect(await reopened.load(subscription)).toBe(written[2].position);
      expect(inStreams(await readAllAfter(reopened, await reopened.load(subscription)), stream)).toEqual(written.slice(3));
      const more = newEvents(1);
      const result = await reopened.append(stream, more, 4);
      expect(result.nextExpectedRevision).toBe(5);
      expect(result.position).toBeGreaterThan(written[4].position);
      expect(idsOf(await reopened.readStream(stream, 5))).toEqual(idsOf(more));
    });
  });
}
