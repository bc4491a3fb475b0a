import { BaseOptions, EventStoreDBClient, FORWARDS, Position, WrongExpectedVersionError } from '@eventstore/db-client';
import { AppendResult, CheckpointStore, EventStore, ExpectedRevision, NewEvent, RecordedEvent } from '../../application/ports/event-store';
import { AppendListeners } from './append-listeners';
import { assertAppendable, assertReadAllArguments, assertReadStreamArguments } from './append-rules';
import { EventStoreDbCheckpoints } from './eventstoredb-checkpoints';
import { probeConnection } from './eventstoredb-connection-probe';
import { isWrongExpectedVersion, repeatedAppendResult, wrongRevisionError } from './eventstoredb-errors';
import { EventIdReservations } from './eventstoredb-event-id-reservations';
import { toEventData, toRecordedEvent } from './eventstoredb-event-mapping';
import { LiveSubscription } from './eventstoredb-live-subscription';
import { reportedAppendPosition, streamReadPosition, toEsdbExpected, toSafeNumber } from './eventstoredb-positions';
import { scanLog } from './eventstoredb-log-scan';
import { visit } from './eventstoredb-reads';
import { EventStoreDbEventStoreOptions, eventStoreDbSettings } from './eventstoredb-settings';
import { logEventPredicate } from './eventstoredb-stream-selection';

// The names importers know this module by; they live in the files of their own concern.
export type { EventStoreDbEventStoreOptions } from './eventstoredb-settings';
export { CUSTODIA_STREAM_PREFIXES, type StreamSelection } from './eventstoredb-stream-selection';

/**
 * The event store on EventStoreDB (or KurrentDB), through its gRPC client. Each Custodia stream is
 * an EventStoreDB stream of the same name; the global log is $all, restricted to Custodia's streams.
 *
 * Positions. The port's `position` is the event's commit position in $all. EventStoreDB's $all is
 * its transaction log, written by a single writer (the leader) in order, and the gRPC append
 * writes every event as a self-committed record (no explicit transaction, which only the legacy
 * TCP API could open): such an event's commit position is its own byte offset in the log. So it
 * differs for every event, even between the events of one append, and grows in log order. $all is
 * readable only up to the last indexed (in a cluster: replicated) record, and records are indexed
 * in log order, so an event that becomes visible later always has a higher commit position than
 * everything readAll returned before: a reader never skips one. Positions are byte offsets, not
 * counters: they have gaps (other streams, system records) and start above 0 (the log opens with
 * system records), which the port allows; 0 keeps meaning "from the start". Scavenging does not
 * renumber them. Their conversion to numbers: eventstoredb-positions.ts.
 *
 * EventStoreDB only knows event ids within a stream, as an idempotency check on appends. The
 * port's stronger rules (a retry with all ids stored is a no-op, a mix of stored and new ids is a
 * conflict, an id stored in another stream is refused) are kept here: the stream is read before
 * appending, and every new event id is first reserved (eventstoredb-event-id-reservations.ts).
 *
 * Checkpoints: eventstoredb-checkpoints.ts. What wakes onAppended listeners: eventstoredb-live-subscription.ts.
 */
export class EventStoreDbEventStore implements EventStore, CheckpointStore {
  private readonly client: EventStoreDBClient;
  private readonly isLogEvent: (stream: string, type: string) => boolean;
  private readonly listeners: AppendListeners;
  private readonly live: LiveSubscription;
  private readonly checkpoints: EventStoreDbCheckpoints;
  private readonly reservations: EventIdReservations;
  private readonly inFlight = new Set<Promise<unknown>>();
  private closing: Promise<void> | null = null;

  /** @param connectionString e.g. `esdb://127.0.0.1:2113?tls=false` */
  constructor(connectionString: string, options: EventStoreDbEventStoreOptions = {}) {
    // Settings first: a bad stream selection throws before a client exists that would need closing.
    const settings = eventStoreDbSettings(options);
    this.isLogEvent = logEventPredicate(settings.streams);
    this.listeners = new AppendListeners(settings.onListenerError);
    this.client = EventStoreDBClient.connectionString(connectionString);
    this.live = new LiveSubscription(this.client, this.listeners, {
      streams: settings.streams,
      isLogEvent: this.isLogEvent,
      resubscribeBackoff: settings.resubscribeBackoff,
      onConnectionError: settings.onConnectionError,
    });
    this.checkpoints = new EventStoreDbCheckpoints(this.client, settings.onConnectionError);
    this.reservations = new EventIdReservations(this.client);
  }

  /**
   * Creates the store and checks, by reading the last record of $all, that the server answers and
   * lets this user read $all (which readAll needs); closes it again and throws if not.
   */
  static async open(connectionString: string, options: EventStoreDbEventStoreOptions = {}): Promise<EventStoreDbEventStore> {
    const store = new EventStoreDbEventStore(connectionString, options);
    try {
      await probeConnection(store.client, eventStoreDbSettings(options).connectTimeoutMs);
      return store;
    } catch (error) {
      // Not awaited: with a server that does not answer, closing could wait for it.
      store.close().catch(() => undefined);
      throw error;
    }
  }

  append(stream: string, events: NewEvent[], expectedRevision: ExpectedRevision): Promise<AppendResult> {
    return this.track(async () => {
      assertAppendable(stream, events, expectedRevision);
      // Serialised first: a payload that is not JSON fails before anything is written.
      const proposed = events.map(toEventData);
      // Reads must see this process's own and every acknowledged write: ask the leader.
      const onLeader: BaseOptions = { requiresLeader: true };

      const repeated = repeatedAppendResult(stream, events, await this.readStreamEvents(stream, 0, onLeader), expectedRevision);
      if (repeated) return repeated;

      await this.reservations.reserve(stream, events, onLeader);

      let next: bigint;
      let reportedPosition: Position | undefined;
      try {
        const result = await this.client.appendToStream(stream, proposed, {
          ...onLeader,
          expectedRevision: toEsdbExpected(expectedRevision),
        });
        // Only with throwOnAppendFailure=false in the connection string does a conflict come back as a result.
        if (!result.success) return await this.conflict(stream, events, expectedRevision, null, onLeader);
        next = result.nextExpectedRevision;
        reportedPosition = result.position;
      } catch (error) {
        if (!isWrongExpectedVersion(error)) throw error;
        return await this.conflict(stream, events, expectedRevision, error, onLeader);
      }

      const position = await this.positionOfRevision(stream, next, reportedPosition, onLeader);
      this.listeners.notify();
      return { nextExpectedRevision: toSafeNumber(next, 'stream revision'), position };
    });
  }

  readStream(stream: string, fromRevision = 0): Promise<RecordedEvent[]> {
    return this.track(async () => {
      assertReadStreamArguments(stream, fromRevision);
      return this.readStreamEvents(stream, fromRevision, {});
    });
  }

  readAll(afterPosition: number, limit: number): Promise<RecordedEvent[]> {
    return this.track(async () => {
      assertReadAllArguments(afterPosition, limit);
      if (limit === 0) return [];
      return scanLog(this.client, afterPosition, limit, this.isLogEvent);
    });
  }

  onAppended(listener: () => void): () => void {
    const unsubscribe = this.listeners.add(listener);
    this.live.start();
    return unsubscribe;
  }

  load(subscription: string): Promise<number> {
    return this.track(() => this.checkpoints.load(subscription));
  }

  save(subscription: string, position: number): Promise<void> {
    return this.track(() => this.checkpoints.save(subscription, position));
  }

  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    this.listeners.clear();
    await this.live.stop();
    // Calls already started (a listener's read, say) finish before the connection goes.
    await Promise.allSettled([...this.inFlight]);
    await this.client.dispose();
  }

  private track<T>(operation: () => Promise<T>): Promise<T> {
    if (this.closing) return Promise.reject(new Error('the EventStoreDB event store is closed'));
    const running = operation();
    this.inFlight.add(running);
    const forget = () => this.inFlight.delete(running);
    running.then(forget, forget);
    return running;
  }

  /** The stream's events from `fromRevision` on; [] for a stream that does not exist. */
  private async readStreamEvents(stream: string, fromRevision: number, options: BaseOptions): Promise<RecordedEvent[]> {
    const read = this.client.readStream(stream, {
      ...options,
      direction: FORWARDS,
      fromRevision: BigInt(fromRevision),
      resolveLinkTos: false,
    });
    const events: RecordedEvent[] = [];
    await visit(read, ({ event }) => {
      if (event) events.push(toRecordedEvent(event, streamReadPosition(event)));
    });
    return events;
  }

  /**
   * The append was refused (or, with throwOnAppendFailure=false, not done). A concurrent append of
   * these very events (the retry of an append whose outcome was lost, racing it) makes it an
   * idempotent repeat after all: the stream is read again to tell.
   */
  private async conflict(
    stream: string,
    events: NewEvent[],
    expectedRevision: ExpectedRevision,
    error: WrongExpectedVersionError | null,
    options: BaseOptions,
  ): Promise<AppendResult> {
    const stored = await this.readStreamEvents(stream, 0, options);
    const repeated = repeatedAppendResult(stream, events, stored, expectedRevision);
    if (repeated) return repeated;
    throw wrongRevisionError(stream, expectedRevision, error, stored);
  }

  /**
   * The global position of the event at `revision`, read back from the stream. The append's own
   * answer has a position too, but which record it points at is not part of the protocol's
   * contract; the event read back is the one readStream and readAll will report.
   */
  private async positionOfRevision(
    stream: string,
    revision: bigint,
    reported: Position | undefined,
    options: BaseOptions,
  ): Promise<number> {
    let position: number | null = null;
    await visit(this.client.readStream(stream, { ...options, direction: FORWARDS, fromRevision: revision, maxCount: 1 }), ({ event }) => {
      if (event) position = streamReadPosition(event);
    });
    if (position !== null) return position;
    // Not readable back (it is acknowledged, so this is not expected): fall back on what the append said.
    const fallback = reportedAppendPosition(stream, revision, reported);
    if (fallback !== null) return fallback;
    throw new Error(`stream ${stream}: appended revision ${revision} could not be read back to learn its position`);
  }
}
