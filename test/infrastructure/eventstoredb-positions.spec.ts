import { ANY, NO_STREAM, RecordedEvent as EsdbRecordedEvent, START } from '@eventstore/db-client';
import { scanBatchSize } from '../../src/infrastructure/event-store/eventstoredb-log-scan';
import {
  UNKNOWN_POSITION,
  fromEsdbCurrent,
  isAfter,
  readAllStart,
  reportedAppendPosition,
  streamReadPosition,
  toEsdbExpected,
  toPosition,
  toSafeNumber,
} from '../../src/infrastructure/event-store/eventstoredb-positions';

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const where = { streamId: 'backup-x', id: 'e1' };

function readFromStream(position: EsdbRecordedEvent['position']): EsdbRecordedEvent {
  return { streamId: 'backup-x', id: 'e1', isJson: true, revision: 0n, type: 'T', created: new Date(), data: {}, metadata: {}, position };
}

describe('EventStoreDB positions and revisions', () => {
  it('turns commit positions into the port’s positions, 1 to 2^53 - 1 and nothing else', () => {
    expect(toPosition(1n, where)).toBe(1);
    expect(toPosition(MAX_SAFE, where)).toBe(Number.MAX_SAFE_INTEGER);
    // 0 means "from the start" to readAll, so no event may have it.
    expect(() => toPosition(0n, where)).toThrow(RangeError);
    expect(() => toPosition(-1n, where)).toThrow(RangeError);
    expect(() => toPosition(MAX_SAFE + 1n, where)).toThrow(/backup-x: event e1 has position 9007199254740992/);
    expect(() => toPosition(UNKNOWN_POSITION, where)).toThrow(RangeError);
  });

  it('turns revisions into numbers from 0, naming what overflowed', () => {
    expect(toSafeNumber(0n, 'stream revision')).toBe(0);
    expect(toSafeNumber(MAX_SAFE, 'stream revision')).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => toSafeNumber(-1n, 'stream revision')).toThrow(RangeError);
    expect(() => toSafeNumber(MAX_SAFE + 1n, 'stream revision')).toThrow(/^stream revision 9007199254740992 is outside/);
  });

  it("reads an event's position from a stream read: the commit position, or the prepare one when older servers leave it unknown", () => {
    expect(streamReadPosition(readFromStream({ commit: 500n, prepare: 480n }))).toBe(500);
    expect(streamReadPosition(readFromStream({ commit: UNKNOWN_POSITION, prepare: 480n }))).toBe(480);
    expect(() => streamReadPosition(readFromStream(undefined))).toThrow(/22\.6 or later/);
  });

  it("falls back on an append's reported position only when the server knew it", () => {
    expect(reportedAppendPosition('backup-x', 2n, { commit: 900n, prepare: 900n })).toBe(900);
    expect(reportedAppendPosition('backup-x', 2n, { commit: UNKNOWN_POSITION, prepare: 900n })).toBeNull();
    expect(reportedAppendPosition('backup-x', 2n, undefined)).toBeNull();
    expect(() => reportedAppendPosition('backup-x', 2n, { commit: 0n, prepare: 0n })).toThrow(/revision 2/);
  });

  it('orders $all positions by commit, then prepare', () => {
    expect(isAfter({ commit: 2n, prepare: 0n }, { commit: 1n, prepare: 9n })).toBe(true);
    expect(isAfter({ commit: 2n, prepare: 3n }, { commit: 2n, prepare: 2n })).toBe(true);
    expect(isAfter({ commit: 2n, prepare: 2n }, { commit: 2n, prepare: 2n })).toBe(false);
    expect(isAfter({ commit: 1n, prepare: 9n }, { commit: 2n, prepare: 0n })).toBe(false);
  });

  it('starts a read of $all at its start for position 0, otherwise at the position itself (which the scan skips)', () => {
    expect(readAllStart(0)).toBe(START);
    expect(readAllStart(4242)).toEqual({ commit: 4242n, prepare: 4242n });
    expect(readAllStart(Number.MAX_SAFE_INTEGER)).toEqual({ commit: MAX_SAFE, prepare: MAX_SAFE });
  });

  it('asks $all for one record more than wanted, at least 32 and at most 1000', () => {
    expect(scanBatchSize(1)).toBe(32);
    expect(scanBatchSize(100)).toBe(101);
    expect(scanBatchSize(999)).toBe(1000);
    expect(scanBatchSize(5000)).toBe(1000);
  });

  it('spells expected revisions the way the client does', () => {
    expect(toEsdbExpected('no-stream')).toBe(NO_STREAM);
    expect(toEsdbExpected('any')).toBe(ANY);
    expect(toEsdbExpected(0)).toBe(0n);
    expect(toEsdbExpected(41)).toBe(41n);
  });

  it("reads the server's current revision back, both spellings of “no stream” included", () => {
    expect(fromEsdbCurrent(NO_STREAM)).toBe('no-stream');
    expect(fromEsdbCurrent(-1n)).toBe('no-stream');
    expect(fromEsdbCurrent(0n)).toBe(0);
    expect(fromEsdbCurrent(7n)).toBe(7);
    expect(() => fromEsdbCurrent(MAX_SAFE + 1n)).toThrow(RangeError);
  });
});
