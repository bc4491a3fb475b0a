import { EventStore, NewEvent, WrongExpectedRevisionError } from '../../../src/application/ports/event-store';

const yieldToOthers = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Appends the events one at a time the way a command handler does: read the stream, decide,
 * append expecting the revision read; on a conflict, read again and retry. `decide` runs between
 * the read and the append: the window in which other writers get in.
 */
export async function appendWithRetries(
  store: EventStore,
  stream: string,
  events: NewEvent[],
  decide: () => Promise<void> = yieldToOthers,
): Promise<{ conflicts: number }> {
  let conflicts = 0;
  for (const event of events) {
    for (;;) {
      const expected = (await store.readStream(stream)).at(-1)?.revision ?? 'no-stream';
      await decide();
      try {
        await store.append(stream, [event], expected);
        break;
      } catch (error) {
        if (!(error instanceof WrongExpectedRevisionError)) throw error;
        conflicts += 1;
      }
    }
  }
  return { conflicts };
}
