import { ErrorType, WrongExpectedVersionError, isCommandError } from '@eventstore/db-client';
import { AppendResult, ExpectedRevision, NewEvent, RecordedEvent, WrongExpectedRevisionError } from '../../application/ports/event-store';
import { repeatedAppend } from './append-rules';
import { fromEsdbCurrent } from './eventstoredb-positions';

/**
 * The client's errors the adapter understands, and how a refused append becomes the port's error.
 * Callers branch on the port's errors (WrongExpectedRevisionError, DuplicateEventIdError), never
 * on the client's: every other client error passes through unchanged.
 */

export function isWrongExpectedVersion(error: unknown): error is WrongExpectedVersionError {
  return error instanceof Error && isCommandError(error) && error.type === ErrorType.WRONG_EXPECTED_VERSION;
}

/** Reading a stream that does not exist: the port reads it as empty. */
export function isStreamNotFound(error: unknown): boolean {
  return error instanceof Error && isCommandError(error) && error.type === ErrorType.STREAM_NOT_FOUND;
}

/**
 * Some of the ids may already be in the stream (`stored` is the whole stream): null when none
 * is, the original result when all are (see repeatedAppend); a mix is a conflict.
 */
export function repeatedAppendResult(
  stream: string,
  events: NewEvent[],
  stored: RecordedEvent[],
  expectedRevision: ExpectedRevision,
): AppendResult | null {
  const repeated = repeatedAppend(stream, events, stored);
  if (repeated === 'partial') throw new WrongExpectedRevisionError(stream, expectedRevision, currentRevision(stored));
  return repeated;
}

/**
 * The port's error for an append EventStoreDB refused: the actual revision is the server's
 * (`error`), or, when it answered with a failed result instead of an error
 * (throwOnAppendFailure=false), the last revision of the stream as read back (`stored`).
 */
export function wrongRevisionError(
  stream: string,
  expectedRevision: ExpectedRevision,
  error: WrongExpectedVersionError | null,
  stored: RecordedEvent[],
): WrongExpectedRevisionError {
  const actual = error ? fromEsdbCurrent(error.actualVersion) : currentRevision(stored);
  return new WrongExpectedRevisionError(stream, expectedRevision, actual);
}

/** What open() throws when the server does not answer in time: ETIMEDOUT, like a socket's timeout. */
export function connectTimeoutError(timeoutMs: number): Error {
  return Object.assign(new Error(`no answer from EventStoreDB within ${timeoutMs} ms`), { code: 'ETIMEDOUT' });
}

function currentRevision(stored: RecordedEvent[]): number | 'no-stream' {
  return stored.at(-1)?.revision ?? 'no-stream';
}
