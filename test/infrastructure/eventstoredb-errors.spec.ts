import { AccessDeniedError, NO_STREAM, StreamingRead, StreamNotFoundError, WrongExpectedVersionError } from '@eventstore/db-client';
import { NewEvent, RecordedEvent, WrongExpectedRevisionError } from '../../src/application/ports/event-store';
import {
  connectTimeoutError,
  isStreamNotFound,
  isWrongExpectedVersion,
  repeatedAppendResult,
  wrongRevisionError,
} from '../../src/infrastructure/event-store/eventstoredb-errors';
import { visit } from '../../src/infrastructure/event-store/eventstoredb-reads';
import { errorOf } from '../support/error-of';
import { newEvents } from '../contract/event-store/fixtures';

/** The client's own error classes, built the way it builds them from a server's answer's details. */
function wrongExpectedVersion(current: bigint | typeof NO_STREAM): WrongExpectedVersionError {
  return new WrongExpectedVersionError(undefined, { streamName: 'backup-x', expected: 2n, current });
}

function stored(stream: string, events: NewEvent[], firstRevision = 0): RecordedEvent[] {
  return events.map((event, i) => ({ ...event, stream, revision: firstRevision + i, position: 100 + i }));
}

/** A read the way the client's StreamingRead is consumed (for await), yielding `items` then failing with `failure`. */
function readOf<E>(items: E[], failure?: Error): StreamingRead<E> & { consumed: number } {
  const read = {
    consumed: 0,
    async *[Symbol.asyncIterator]() {
      for (const item of items) {
        read.consumed += 1;
        yield item;
      }
      if (failure) throw failure;
    },
  };
  return read as unknown as StreamingRead<E> & { consumed: number };
}

describe('EventStoreDB error translation', () => {
  it("recognises the client's wrong-expected-version and stream-not-found errors, and nothing else as them", () => {
    const conflict = wrongExpectedVersion(5n);
    const missing = new StreamNotFoundError(undefined, 'backup-x');

    expect(isWrongExpectedVersion(conflict)).toBe(true);
    expect(isWrongExpectedVersion(missing)).toBe(false);
    expect(isStreamNotFound(missing)).toBe(true);
    expect(isStreamNotFound(conflict)).toBe(false);
    expect(isStreamNotFound(new AccessDeniedError())).toBe(false);
    // Look-alikes that are not the client's: its errors are told apart by class, not by shape.
    expect(isWrongExpectedVersion(Object.assign(new Error('x'), { type: 'wrong-expected-version' }))).toBe(false);
    expect(isStreamNotFound({ type: 'stream-not-found' })).toBe(false);
    expect(isWrongExpectedVersion(undefined)).toBe(false);
  });

  it("turns a refused append into the port's WrongExpectedRevisionError with the server's current revision", () => {
    const error = wrongRevisionError('backup-x', 2, wrongExpectedVersion(5n), []);

    expect(error).toBeInstanceOf(WrongExpectedRevisionError);
    expect(error).toMatchObject({ code: 'WRONG_EXPECTED_REVISION', stream: 'backup-x', expected: 2, actual: 5 });
    expect(wrongRevisionError('backup-x', 0, wrongExpectedVersion(NO_STREAM), []).actual).toBe('no-stream');
    // The server's older error metadata says -1 for "no stream".
    expect(wrongRevisionError('backup-x', 0, wrongExpectedVersion(-1n), []).actual).toBe('no-stream');
  });

  it('takes the current revision from the stream as read back when the server answered with a failed result instead of an error', () => {
    const events = newEvents(3);

    expect(wrongRevisionError('backup-x', 'no-stream', null, stored('backup-x', events)).actual).toBe(2);
    expect(wrongRevisionError('backup-x', 1, null, []).actual).toBe('no-stream');
  });

  it('answers a repeated append with its original result, a new one with null, and a partly stored one with a conflict', async () => {
    const events = newEvents(2);
    const inStream = stored('backup-x', [...newEvents(1), ...events]);

    expect(repeatedAppendResult('backup-x', newEvents(1), inStream, 'any')).toBeNull();
    expect(repeatedAppendResult('backup-x', events, inStream, 0)).toEqual({ nextExpectedRevision: 2, position: 102 });
    const partial = await errorOf(async () => repeatedAppendResult('backup-x', [events[0], ...newEvents(1)], inStream, 0));
    expect(partial).toBeInstanceOf(WrongExpectedRevisionError);
    expect(partial).toMatchObject({ expected: 0, actual: 2 });
  });

  it('gives a start-up timeout the code a socket timeout has', () => {
    expect(connectTimeoutError(250)).toMatchObject({ code: 'ETIMEDOUT', message: 'no answer from EventStoreDB within 250 ms' });
  });
});

describe('EventStoreDB reads (visit)', () => {
  it('reads a stream that does not exist as empty, and lets every other failure through', async () => {
    const seen: number[] = [];

    await visit(readOf([1, 2], new StreamNotFoundError(undefined, 'backup-x')), (item) => seen.push(item));
    await expect(visit(readOf([3], new AccessDeniedError()), (item) => seen.push(item))).rejects.toBeInstanceOf(AccessDeniedError);

    expect(seen).toEqual([1, 2, 3]);
  });

  it("reads to the end even when the visitor throws, then throws the visitor's first error", async () => {
    const read = readOf([1, 2, 3, 4]);
    const seen: number[] = [];

    const failure = visit(read, (item) => {
      seen.push(item);
      if (item >= 2) throw new Error(`bad item ${item}`);
    });

    await expect(failure).rejects.toThrow('bad item 2');
    expect(read.consumed).toBe(4);
    expect(seen).toEqual([1, 2]);
  });
});
