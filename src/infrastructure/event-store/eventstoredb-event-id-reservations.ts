import {
  AppendExpectedRevision,
  BACKWARDS,
  BaseOptions,
  END,
  EventStoreDBClient,
  FORWARDS,
  JSONEventData,
  NO_STREAM,
  RecordedEvent as EsdbRecordedEvent,
  START,
} from '@eventstore/db-client';
import { DuplicateEventIdError, NewEvent } from '../../application/ports/event-store';
import { RESERVED_STREAM_PREFIX } from './append-rules';
import { isWrongExpectedVersion } from './eventstoredb-errors';
import { internalEvent, isRecord } from './eventstoredb-event-mapping';
import { visit } from './eventstoredb-reads';

/**
 * EventStoreDB only knows event ids within a stream. The port refuses an id already stored in
 * another stream, so every new event id is first reserved in a stream of its own
 * (`custodia-event-id-<id>`, created with expected revision no-stream, so only one stream can hold
 * a reservation). A reservation whose append then failed points at a stream that does not hold
 * the id; it is taken over by the next stream that asks for the id.
 */

const EVENT_ID_PREFIX = `${RESERVED_STREAM_PREFIX}event-id-`;
const EVENT_ID_RESERVED = 'CustodiaEventIdReserved';
/** How often a reservation is re-read and re-tried when other writers keep changing it. */
const RESERVATION_ATTEMPTS = 5;

export interface Reservation {
  /** The stream the event id was reserved for. */
  stream: string;
  /** The reservation stream's revision holding that reservation. */
  revision: bigint;
}

export class EventIdReservations {
  constructor(private readonly client: EventStoreDBClient) {}

  /**
   * Reserves each new event id for `stream`. All reservations run at once; the first refusal
   * (DuplicateEventIdError) is thrown once all have settled, so none is left half-done.
   */
  async reserve(stream: string, events: NewEvent[], options: BaseOptions): Promise<void> {
    const outcomes = await Promise.allSettled(events.map((event) => this.reserveEventId(event.id, stream, options)));
    const refused = outcomes.find((outcome) => outcome.status === 'rejected');
    if (refused) throw refused.reason;
  }

  private async reserveEventId(id: string, stream: string, options: BaseOptions): Promise<void> {
    const reservationStream = `${EVENT_ID_PREFIX}${id}`;
    const reservation = internalEvent(EVENT_ID_RESERVED, { stream });
    // The usual case, a new id: one append that only succeeds if nobody reserved the id yet.
    if (await this.tryAppend(reservationStream, reservation, NO_STREAM, options)) return;

    for (let attempt = 0; attempt < RESERVATION_ATTEMPTS; attempt++) {
      const current = await this.readReservation(reservationStream, options);
      if (current?.stream === stream) return;
      if (current && (await this.streamHolds(current.stream, id, options))) throw new DuplicateEventIdError(id, current.stream, stream);
      // Unclaimed, or left by an append to another stream that then failed: take it over, unless
      // another writer changes it first (then look again).
      if (await this.tryAppend(reservationStream, reservation, current ? current.revision : NO_STREAM, options)) return;
    }
    throw new Error(`event id ${id}: could not reserve it for stream ${stream}, other writers kept changing its reservation`);
  }

  /** Appends unless the expected revision no longer holds; false in that case. */
  private async tryAppend(
    stream: string,
    event: JSONEventData,
    expectedRevision: AppendExpectedRevision,
    options: BaseOptions,
  ): Promise<boolean> {
    try {
      const result = await this.client.appendToStream(stream, event, { ...options, expectedRevision });
      return result.success;
    } catch (error) {
      if (isWrongExpectedVersion(error)) return false;
      throw error;
    }
  }

  private async readReservation(reservationStream: string, options: BaseOptions): Promise<Reservation | null> {
    let reservation: Reservation | null = null;
    await visit(
      this.client.readStream(reservationStream, { ...options, direction: BACKWARDS, fromRevision: END, maxCount: 1 }),
      ({ event }) => {
        if (event) reservation = reservationOf(reservationStream, event);
      },
    );
    return reservation;
  }

  private async streamHolds(stream: string, id: string, options: BaseOptions): Promise<boolean> {
    let holds = false;
    await visit(this.client.readStream(stream, { ...options, direction: FORWARDS, fromRevision: START }), ({ event }) => {
      if (event?.id === id) holds = true;
    });
    return holds;
  }
}

/** The reservation an event of `reservationStream` records; an error for one this store did not write. */
export function reservationOf(reservationStream: string, event: EsdbRecordedEvent): Reservation {
  const data: unknown = event.data;
  if (!isRecord(data) || typeof data.stream !== 'string') throw new Error(`${reservationStream}: unreadable reservation ${event.id}`);
  return { stream: data.stream, revision: event.revision };
}
