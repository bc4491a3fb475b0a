import {
  ANY,
  AppendExpectedRevision,
  NO_STREAM,
  Position,
  ReadPosition,
  RecordedEvent as EsdbRecordedEvent,
  START,
} from '@eventstore/db-client';
import { ExpectedRevision } from '../../application/ports/event-store';

/**
 * Translation between the port's numbers (positions and revisions as JS numbers) and EventStoreDB's
 * (unsigned 64-bit bigints, and its own spellings of "no stream" and "any"). Why a commit position
 * can serve as the port's position: see the comment of EventStoreDbEventStore.
 *
 * A JS number is exact up to 2^53 - 1, about 9 PB of transaction log. Past that every conversion
 * throws a RangeError rather than round: rounding could merge or reorder positions.
 */

/** What older servers send as the commit position of an event read from its stream (the stream index does not know it). */
export const UNKNOWN_POSITION = 2n ** 64n - 1n;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A commit position as the port's position: 0 is kept for "from the start", so a real one is 1..2^53-1. */
export function toPosition(value: bigint, event: { streamId: string; id: string }): number {
  if (value <= 0n || value > MAX_SAFE) {
    throw new RangeError(`stream ${event.streamId}: event ${event.id} has position ${value}, outside 1..2^53-1`);
  }
  return Number(value);
}

/** A stream revision (or any other count) as a number; `what` names it in the error. */
export function toSafeNumber(value: bigint, what: string): number {
  if (value < 0n || value > MAX_SAFE) throw new RangeError(`${what} ${value} is outside 0..2^53-1`);
  return Number(value);
}

/**
 * An event's position when read from its stream. Newer servers report a self-committed event's
 * commit position there too; older ones send 2^64 - 1 ("unknown") with the prepare position, which
 * for a self-committed event is the same number (see the comment of EventStoreDbEventStore).
 */
export function streamReadPosition(event: EsdbRecordedEvent): number {
  const position = event.position;
  if (!position)
    throw new Error(`stream ${event.streamId}: the server gave no position for event ${event.id} (EventStoreDB 22.6 or later is needed)`);
  return toPosition(position.commit !== UNKNOWN_POSITION ? position.commit : position.prepare, event);
}

/**
 * The position an append answered with, as a fallback when its event cannot be read back; null
 * when the server did not know it.
 */
export function reportedAppendPosition(stream: string, revision: bigint, reported: Position | undefined): number | null {
  if (!reported || reported.commit === UNKNOWN_POSITION) return null;
  return toPosition(reported.commit, { streamId: stream, id: `revision ${revision}` });
}

/** Whether `a` comes after `b` in $all. */
export function isAfter(a: Position, b: Position): boolean {
  return a.commit > b.commit || (a.commit === b.commit && a.prepare > b.prepare);
}

/**
 * Where a read of $all for the events after `afterPosition` starts. Such a read includes the
 * record at its start position, which the caller skips; 0 means the very start of the log.
 */
export function readAllStart(afterPosition: number): ReadPosition {
  if (afterPosition === 0) return START;
  const after = BigInt(afterPosition);
  return { commit: after, prepare: after };
}

export function toEsdbExpected(expected: ExpectedRevision): AppendExpectedRevision {
  if (expected === 'no-stream') return NO_STREAM;
  if (expected === 'any') return ANY;
  return BigInt(expected);
}

/** The current revision a refused append reports, as the port's WrongExpectedRevisionError carries it. */
export function fromEsdbCurrent(actual: bigint | typeof NO_STREAM): number | 'no-stream' {
  // -1 is how the server's older error metadata spells "no stream".
  return actual === NO_STREAM || actual < 0n ? 'no-stream' : toSafeNumber(actual, 'stream revision');
}
