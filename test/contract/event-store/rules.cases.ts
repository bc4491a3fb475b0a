import { randomUUID } from 'node:crypto';
import {
  DuplicateEventIdError,
  EventNotJsonError,
  EventStoreErrorCode,
  ExpectedRevision,
  InvalidEventStoreCallError,
  NewEvent,
  WrongExpectedRevisionError,
} from '../../../src/application/ports/event-store';
import { idsOf, inStreams, logHead, newEvent, newEvents, readAllAfter, uniqueName } from './fixtures';
import type { StoreUnderTest } from './store-under-test';

/** Builds an event the rules refuse, from a valid one. */
type Spoil = (event: NewEvent) => NewEvent;

/**
 * The append rules (src/infrastructure/event-store/append-rules.ts), which used to differ between
 * adapters: every store refuses the same calls, before writing anything, with the same code.
 */
export function rulesCases(subject: () => StoreUnderTest): void {
  describe('append rules', () => {
    it.each([
      { case: 'an empty stream name', stream: '', code: 'INVALID_STREAM_NAME' },
      { case: 'a stream name with a space', stream: 'backup- x', code: 'INVALID_STREAM_NAME' },
      { case: 'a stream name with a slash', stream: 'backup/x', code: 'INVALID_STREAM_NAME' },
      { case: 'a stream name with a newline', stream: 'backup-x\n', code: 'INVALID_STREAM_NAME' },
      { case: 'a stream name starting with -', stream: '-backup', code: 'INVALID_STREAM_NAME' },
      { case: 'a stream name of the store itself', stream: 'custodia-checkpoint-x', code: 'RESERVED_STREAM_NAME' },
      { case: "a system stream's name", stream: '$streams', code: 'RESERVED_STREAM_NAME' },
    ])('refuses $case with $code', async ({ stream, code }) => {
      const { store } = subject();
      const head = await logHead(store);

      await expectRefusal(store.append(stream, newEvents(1), 'any'), code as EventStoreErrorCode);

      expect(inStreams(await readAllAfter(store, head), stream)).toEqual([]);
    });

    it('accepts the stream names Custodia uses', async () => {
      const { store } = subject();
      for (const stream of [`source-${randomUUID()}`, `subject-${'ab'.repeat(32)}`, uniqueName('A_b.c:d@e')]) {
        expect((await store.append(stream, newEvents(1), 'no-stream')).nextExpectedRevision).toBe(0);
      }
    });

    const spoiled: { case: string; spoil: Spoil; code: EventStoreErrorCode }[] = [
      { case: 'an event id that is not a UUID', spoil: (event) => ({ ...event, id: 'not-a-uuid' }), code: 'INVALID_EVENT_ID' },
      { case: 'an upper-case UUID', spoil: (event) => ({ ...event, id: event.id.toUpperCase() }), code: 'INVALID_EVENT_ID' },
      { case: 'an empty type', spoil: (event) => ({ ...event, type: '' }), code: 'INVALID_EVENT' },
      { case: 'a system type', spoil: (event) => ({ ...event, type: '$metadata' }), code: 'INVALID_EVENT' },
      { case: 'schema version 0', spoil: (event) => ({ ...event, schemaVersion: 0 }), code: 'INVALID_EVENT' },
      { case: 'a fractional schema version', spoil: (event) => ({ ...event, schemaVersion: 1.5 }), code: 'INVALID_EVENT' },
      { case: 'an occurrence time that is not ISO 8601', spoil: (event) => ({ ...event, occurredAt: 'yesterday' }), code: 'INVALID_EVENT' },
      {
        case: 'metadata without an actor',
        spoil: (event) => ({ ...event, metadata: { correlationId: 'c', causationId: null } as unknown as NewEvent['metadata'] }),
        code: 'INVALID_METADATA',
      },
      {
        case: 'metadata with a field the port does not define',
        spoil: (event) => ({ ...event, metadata: { ...event.metadata, extra: 'x' } as NewEvent['metadata'] }),
        code: 'INVALID_METADATA',
      },
      {
        case: 'a causation id that is neither a string nor null',
        spoil: (event) => ({ ...event, metadata: { ...event.metadata, causationId: 7 } as unknown as NewEvent['metadata'] }),
        code: 'INVALID_METADATA',
      },
      { case: 'data JSON cannot represent', spoil: (event) => ({ ...event, data: { size: 1n } }), code: 'EVENT_NOT_JSON' },
      { case: 'undefined data', spoil: (event) => ({ ...event, data: undefined }), code: 'EVENT_NOT_JSON' },
    ];

    it.each(spoiled)('refuses a batch whose last event has $case with $code, and writes none of it', async ({ spoil, code }) => {
      const { store } = subject();
      const stream = uniqueName('spoiled');
      const head = await logHead(store);
      const [last, ...valid] = newEvents(3);

      await expectRefusal(store.append(stream, [...valid, spoil(last)], 'no-stream'), code);

      expect(await store.readStream(stream)).toEqual([]);
      expect(inStreams(await readAllAfter(store, head), stream)).toEqual([]);
    });

    it('refuses an empty append and an id given twice in one append', async () => {
      const { store } = subject();
      const event = newEvent();

      await expectRefusal(store.append(uniqueName('empty'), [], 'any'), 'EMPTY_APPEND');
      await expectRefusal(store.append(uniqueName('twice'), [event, event], 'any'), 'DUPLICATE_ID_IN_APPEND');
    });

    it.each([-1, 1.5, Number.NaN, 'latest' as unknown as ExpectedRevision])('refuses expected revision %p', async (expected) => {
      const { store } = subject();
      const stream = uniqueName('bad-expected');

      await expectRefusal(store.append(stream, newEvents(1), expected), 'INVALID_EXPECTED_REVISION');
      expect(await store.readStream(stream)).toEqual([]);
    });

    it('gives conflicts and reused ids their codes', async () => {
      const { store } = subject();
      const [owner, other] = [uniqueName('coded'), uniqueName('coded-other')];
      const events = newEvents(1);
      await store.append(owner, events, 'no-stream');

      const conflict = store.append(owner, newEvents(1), 'no-stream');
      await expect(conflict).rejects.toBeInstanceOf(WrongExpectedRevisionError);
      await expect(conflict).rejects.toMatchObject({ code: 'WRONG_EXPECTED_REVISION' });
      const reused = store.append(other, events, 'no-stream');
      await expect(reused).rejects.toBeInstanceOf(DuplicateEventIdError);
      await expect(reused).rejects.toMatchObject({
        code: 'DUPLICATE_EVENT_ID',
        eventId: events[0].id,
        existingStream: owner,
        stream: other,
      });
      expect(idsOf(await store.readStream(owner))).toEqual(idsOf(events));
    });

    it('refuses reads and checkpoints with arguments out of range', async () => {
      const { store } = subject();

      await expectRefusal(store.readAll(0, -1), 'INVALID_ARGUMENT');
      await expectRefusal(store.readAll(0, 1.5), 'INVALID_ARGUMENT');
      await expectRefusal(store.readAll(-1, 10), 'INVALID_ARGUMENT');
      await expectRefusal(store.readStream(uniqueName('negative'), -1), 'INVALID_ARGUMENT');
      await expectRefusal(store.save(uniqueName('negative'), -1), 'INVALID_ARGUMENT');
      await expectRefusal(store.save('', 1), 'INVALID_ARGUMENT');
      await expectRefusal(store.load(''), 'INVALID_ARGUMENT');
    });
  });
}

/** The call fails with `code`: a RangeError (InvalidEventStoreCallError) or, for JSON, a TypeError. */
async function expectRefusal(call: Promise<unknown>, code: EventStoreErrorCode): Promise<void> {
  await expect(call).rejects.toBeInstanceOf(code === 'EVENT_NOT_JSON' ? EventNotJsonError : InvalidEventStoreCallError);
  await expect(call).rejects.toBeInstanceOf(code === 'EVENT_NOT_JSON' ? TypeError : RangeError);
  await expect(call).rejects.toMatchObject({ code });
}
