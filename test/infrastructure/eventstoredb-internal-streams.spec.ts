import { JSONEventData, RecordedEvent as EsdbRecordedEvent } from '@eventstore/db-client';
import { InvalidEventStoreCallError } from '../../src/application/ports/event-store';
import { checkpointEvent, checkpointPosition, checkpointStream } from '../../src/infrastructure/event-store/eventstoredb-checkpoints';
import { reservationOf } from '../../src/infrastructure/event-store/eventstoredb-event-id-reservations';

/** The store's own events (checkpoints, id reservations) as the client reads them back. */
function stored(streamId: string, data: unknown, revision = 0n): EsdbRecordedEvent {
  return {
    streamId,
    id: 'b8b5e2c4-5d0e-4a53-9d1c-0e7f2b9f6a11',
    isJson: true,
    revision,
    type: 'CustodiaInternal',
    created: new Date(),
    data: data as never,
    metadata: undefined,
  } as EsdbRecordedEvent;
}

function readBack(written: JSONEventData, streamId: string): EsdbRecordedEvent {
  return stored(streamId, JSON.parse(JSON.stringify(written.data)));
}

describe('EventStoreDB checkpoints (pure parts)', () => {
  it("keeps each subscription's checkpoints in a stream of its own, under the reserved prefix", () => {
    expect(checkpointStream('projections')).toBe('custodia-checkpoint-projections');
    expect(() => checkpointStream('')).toThrow(InvalidEventStoreCallError);
  });

  it('reads back the position a checkpoint event was written with', () => {
    for (const position of [0, 1, Number.MAX_SAFE_INTEGER]) {
      const written = checkpointEvent(position);
      expect(written.type).toBe('CustodiaCheckpointSaved');
      expect(checkpointPosition(readBack(written, 'custodia-checkpoint-p'))).toBe(position);
    }
  });

  it.each([[{}], [{ position: -1 }], [{ position: 1.5 }], [{ position: '3' }], [[3]], [null]])(
    'refuses a checkpoint it did not write (%p)',
    (data) => {
      expect(() => checkpointPosition(stored('custodia-checkpoint-p', data))).toThrow(/custodia-checkpoint-p: unreadable checkpoint/);
    },
  );
});

describe('EventStoreDB event id reservations (pure parts)', () => {
  it('reads the stream a reservation is for, and the revision holding it', () => {
    expect(reservationOf('custodia-event-id-x', stored('custodia-event-id-x', { stream: 'backup-1' }, 4n))).toEqual({
      stream: 'backup-1',
      revision: 4n,
    });
  });

  it.each([[{}], [{ stream: 7 }], ['backup-1'], [null]])('refuses a reservation it did not write (%p)', (data) => {
    expect(() => reservationOf('custodia-event-id-x', stored('custodia-event-id-x', data))).toThrow(/unreadable reservation/);
  });
});
