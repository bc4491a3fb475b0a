import { randomUUID } from 'node:crypto';
import {
  ANY,
  AllStreamResolvedEvent,
  AllStreamSubscription,
  AppendExpectedRevision,
  BACKWARDS,
  BaseOptions,
  END,
  ErrorType,
  EventStoreDBClient,
  FORWARDS,
  Filter,
  JSONEventData,
  JSONType,
  NO_STREAM,
  Position,
  ReadPosition,
  RecordedEvent as EsdbRecordedEvent,
  START,
  StreamingRead,
  WrongExpectedVersionError,
  isCommandError,
  streamNameFilter,
} from '@eventstore/db-client';
import {
  AppendResult,
  CheckpointStore,
  DuplicateEventIdError,
  EventMetadata,
  EventStore,
  ExpectedRevision,
  NewEvent,
  RecordedEvent,
  WrongExpectedRevisionError,
} from '../../application/ports/event-store';
import { BackoffSchedule } from '../../application/retry';
import { AppendListeners } from './append-listeners';
import {
  assertAppendable,
  assertCheckpoint,
  assertReadAllArguments,
  assertReadStreamArguments,
  repeatedAppend,
  RESERVED_STREAM_PREFIX,
  toJsonText,
} from './append-rules';

/** The prefixes of Custodia's aggregate streams: what readAll returns and what wakes onAppended listeners. */
export const CUSTODIA_STREAM_PREFIXES: readonly string[] = ['source-', 'backup-', 'restore-', 'subject-'];

/**
 * Which streams of the database are Custodia's event log. Either prefixes, or a regular expression
 * evaluated both by the server (.NET) for the live subscription and here (JavaScript) for readAll,
 * so it must mean the same in both. Streams starting with `$` or `custodia-` are never included.
 */
export type StreamSelection = { prefixes: readonly string[] } | { regex: string };

export interface EventStoreDbEventStoreOptions {
  /** Which streams readAll returns and onAppended watches; CUSTODIA_STREAM_PREFIXES unless given. */
  streams?: StreamSelection;
  /** Receives what an onAppended listener throws; the append that triggered it still succeeds. */
  onListenerError?: (error: unknown) => void;
  /** Receives failures in the background: the live subscription dropping, checkpoint stream housekeeping. */
  onConnectionError?: (error: unknown) => void;
  /** First delay before the live subscription is opened again after it dropped; doubles up to 30 s. */
  resubscribeDelayMs?: number;
  /** How long open() waits for the server's first answer. */
  connectTimeoutMs?: number;
}

/** Internal streams (under the prefix append-rules reserves), never part of the log readAll returns. */
const RESERVED_PREFIX = RESERVED_STREAM_PREFIX;
const CHECKPOINT_PREFIX = `${RESERVED_PREFIX}checkpoint-`;
const EVENT_ID_PREFIX = `${RESERVED_PREFIX}event-id-`;
const CHECKPOINT_SAVED = 'CustodiaCheckpointSaved';
const EVENT_ID_RESERVED = 'CustodiaEventIdReserved';
/** How many saved checkpoints a checkpoint stream keeps ($maxCount): only the last is read. */
const CHECKPOINT_HISTORY = 10;
/** How often a reservation is re-read and re-tried when other writers keep changing it. */
const RESERVATION_ATTEMPTS = 5;
const DEFAULT_RESUBSCRIBE_DELAY_MS = 1_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** How many $all records one readAll request asks for (readAll filters them here). */
const MIN_SCAN_BATCH = 32;
const MAX_SCAN_BATCH = 1_000;
const MAX_RESUBSCRIBE_DELAY_MS = 30_000;
/** What older servers send as the commit position of an event read from its stream (the stream index does not know it). */
const UNKNOWN_POSITION = 2n ** 64n - 1n;
const MAX_POSITION = BigInt(Number.MAX_SAFE_INTEGER);

/** What Custodia keeps in an event's metadata JSON, next to the port's EventMetadata. */
interface StoredMetadata extends EventMetadata {
  schemaVersion: number;
  occurredAt: string;
}

interface Reservation {
  /** The stream the event id was reserved for. */
  stream: string;
  /** The reservation stream's revision holding that reservation. */
  revision: bigint;
}

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
 * renumber them. EventStoreDB positions are unsigned 64-bit; a JS number is exact up to 2^53 - 1,
 * which is about 9 PB of transaction log. Past that, every conversion throws a RangeError rather
 * than round (rounding could merge or reorder positions).
 *
 * EventStoreDB only knows event ids within a stream, as an idempotency check on appends. The
 * port's stronger rules (a retry with all ids stored is a no-op, a mix of stored and new ids is a
 * conflict, an id stored in another stream is refused) are kept here: the stream is read before
 * appending, and every new event id is first reserved in a stream of its own
 * (`custodia-event-id-<id>`, created with expected revision no-stream, so only one stream can hold
 * a reservation). A reservation whose append then failed points at a stream that does not hold
 * the id; it is taken over by the next stream that asks for the id.
 *
 * Checkpoints are events in `custodia-checkpoint-<name>`: save appends one, load reads the last.
 */
export class EventStoreDbEventStore implements EventStore, CheckpointStore {
  private readonly client: EventStoreDBClient;
  private readonly selection: StreamSelection;
  private readonly matchesSelection: (stream: string) => boolean;
  private readonly listeners: AppendListeners;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly onConnectionError: (error: unknown) => void;
  private readonly resubscribeBackoff: BackoffSchedule;
  private subscription: AllStreamSubscription | null = null;
  private resubscribeTimer: NodeJS.Timeout | null = null;
  private wakeScheduled = false;
  private closing: Promise<void> | null = null;

  /** @param connectionString e.g. `esdb://127.0.0.1:2113?tls=false` */
  constructor(connectionString: string, options: EventStoreDbEventStoreOptions = {}) {
    this.selection = options.streams ?? { prefixes: CUSTODIA_STREAM_PREFIXES };
    this.matchesSelection = selectionMatcher(this.selection);
    this.listeners = new AppendListeners(options.onListenerError);
    this.onConnectionError = options.onConnectionError ?? ((error) => console.error('event store: EventStoreDB background failure', error));
    this.resubscribeBackoff = new BackoffSchedule({
      kind: 'exponential',
      initialMs: options.resubscribeDelayMs ?? DEFAULT_RESUBSCRIBE_DELAY_MS,
      maxMs: MAX_RESUBSCRIBE_DELAY_MS,
    });
    this.client = EventStoreDBClient.connectionString(connectionString);
  }

  /**
   * Creates the store and checks, by reading the last record of $all, that the server answers and
   * lets this user read $all (which readAll needs); closes it again and throws if not.
   */
  static async open(connectionString: string, options: EventStoreDbEventStoreOptions = {}): Promise<EventStoreDbEventStore> {
    const store = new EventStoreDbEventStore(connectionString, options);
    const read = store.client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 });
    let timer: NodeJS.Timeout | undefined;
    const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(Object.assign(new Error(`no answer from EventStoreDB within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })),
        timeoutMs,
      );
    });
    try {
      await Promise.race([read.toArray(), timeout]);
      return store;
    } catch (error) {
      // Neither is awaited: with a server that does not answer, either could wait for it.
      read.cancel().catch(() => undefined);
      store.close().catch(() => undefined);
      throw error;
    } finally {
      clearTimeout(timer);
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

      await this.reserveEventIds(stream, events, onLeader);

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

      // The client's readAll (6.x) cannot ask the server for a filtered read, so $all is read in
      // batches from `afterPosition` on and filtered here, until `limit` events were found or the
      // log ends. Reading $all from a position includes the record at that position: the one at
      // `afterPosition`, and each batch's first (the previous batch's last), are skipped.
      const after = BigInt(afterPosition);
      const batchSize = Math.min(Math.max(limit + 1, MIN_SCAN_BATCH), MAX_SCAN_BATCH);
      const found: RecordedEvent[] = [];
      const cursor: { last: Position | null } = { last: null };
      for (;;) {
        const from: ReadPosition = cursor.last ?? (afterPosition === 0 ? START : { commit: after, prepare: after });
        let records = 0;
        await visit(
          this.client.readAll({ direction: FORWARDS, fromPosition: from, maxCount: batchSize, resolveLinkTos: false }),
          ({ event }) => {
            records += 1;
            if (!event || (cursor.last && !isAfter(event.position, cursor.last))) return;
            cursor.last = event.position;
            if (found.length < limit && event.position.commit > after && this.isLogEvent(event.streamId, event.type)) {
              found.push(toRecordedEvent(event, toPosition(event.position.commit, event)));
            }
          },
        );
        if (found.length >= limit || records < batchSize || !cursor.last) return found;
      }
    });
  }

  onAppended(listener: () => void): () => void {
    const unsubscribe = this.listeners.add(listener);
    this.subscribe();
    return unsubscribe;
  }

  load(subscription: string): Promise<number> {
    return this.track(async () => {
      const stream = checkpointStream(subscription);
      let position = 0;
      await visit(this.client.readStream(stream, { direction: BACKWARDS, fromRevision: END, maxCount: 1 }), ({ event }) => {
        if (event) position = checkpointPosition(event);
      });
      return position;
    });
  }

  save(subscription: string, position: number): Promise<void> {
    return this.track(async () => {
      assertCheckpoint(subscription, position);
      const stream = checkpointStream(subscription);
      const result = await this.client.appendToStream(stream, customEvent(CHECKPOINT_SAVED, { position }), { expectedRevision: ANY });
      if (result.nextExpectedRevision === 0n) {
        // The stream was just created: let the server drop all but the last few checkpoints. The
        // checkpoint itself is saved, so a failure here is reported and does not fail the save.
        await this.client.setStreamMetadata(stream, { maxCount: CHECKPOINT_HISTORY }).catch(this.onConnectionError);
      }
    });
  }

  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    this.listeners.clear();
    if (this.resubscribeTimer) clearTimeout(this.resubscribeTimer);
    this.resubscribeTimer = null;
    const subscription = this.subscription;
    this.subscription = null;
    try {
      await subscription?.unsubscribe();
    } catch {
      // The subscription never connected: there is nothing to cancel.
    }
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
    const actual = error ? fromEsdbCurrent(error.actualVersion) : currentRevision(stored);
    throw new WrongExpectedRevisionError(stream, expectedRevision, actual);
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
    if (reported && reported.commit !== UNKNOWN_POSITION) {
      return toPosition(reported.commit, { streamId: stream, id: `revision ${revision}` });
    }
    throw new Error(`stream ${stream}: appended revision ${revision} could not be read back to learn its position`);
  }

  /**
   * Reserves each new event id for `stream` (see the class comment). All reservations run at
   * once; the first refusal is thrown once all have settled, so none is left half-done.
   */
  private async reserveEventIds(stream: string, events: NewEvent[], options: BaseOptions): Promise<void> {
    const outcomes = await Promise.allSettled(events.map((event) => this.reserveEventId(event.id, stream, options)));
    const refused = outcomes.find((outcome) => outcome.status === 'rejected');
    if (refused) throw refused.reason;
  }

  private async reserveEventId(id: string, stream: string, options: BaseOptions): Promise<void> {
    const reservationStream = `${EVENT_ID_PREFIX}${id}`;
    const reservation = customEvent(EVENT_ID_RESERVED, { stream });
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
        if (!event) return;
        const data: unknown = event.data;
        if (!isRecord(data) || typeof data.stream !== 'string') throw new Error(`${reservationStream}: unreadable reservation ${event.id}`);
        reservation = { stream: data.stream, revision: event.revision };
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

  /** An event of Custodia's global log: in a selected stream, and neither internal nor a system event. */
  private isLogEvent(stream: string, type: string): boolean {
    return !isSystemOrReserved(stream) && !type.startsWith('$') && this.matchesSelection(stream);
  }

  /**
   * Opens the live subscription behind onAppended, once there is a listener: from the end of
   * $all, filtered on the server to the selected streams (one filter per subscription: the stream
   * filter already leaves out the `$` streams, the remaining system event types are dropped
   * here). Every event it delivers, whichever process appended it, wakes the listeners.
   */
  private subscribe(): void {
    if (this.closing || this.subscription || this.resubscribeTimer || this.listeners.size === 0) return;
    const subscription = this.client.subscribeToAll({ fromPosition: END, resolveLinkTos: false, filter: this.serverFilter() });
    this.subscription = subscription;
    subscription.on('confirmation', () => this.resubscribeBackoff.reset());
    subscription.on('data', (resolved: AllStreamResolvedEvent) => {
      const event = resolved.event;
      if (event && this.isLogEvent(event.streamId, event.type)) this.scheduleWake();
    });
    const dropped = (error?: Error) => {
      if (this.subscription !== subscription) return;
      this.subscription = null;
      if (this.closing) return;
      if (error) this.onConnectionError(error);
      const delay = this.resubscribeBackoff.next();
      this.resubscribeTimer = setTimeout(() => {
        this.resubscribeTimer = null;
        this.subscribe();
        // Appends made while it was down woke nobody: wake the listeners once, they read from their checkpoints.
        this.scheduleWake();
      }, delay);
      this.resubscribeTimer.unref();
    };
    subscription.on('error', dropped);
    subscription.on('close', () => dropped());
  }

  private serverFilter(): Filter {
    const selection = this.selection;
    return 'regex' in selection ? streamNameFilter({ regex: selection.regex }) : streamNameFilter({ prefixes: [...selection.prefixes] });
  }

  /** Wakes the listeners once for a burst of subscription events (one per event of a batch append). */
  private scheduleWake(): void {
    if (this.wakeScheduled) return;
    this.wakeScheduled = true;
    setImmediate(() => {
      this.wakeScheduled = false;
      if (!this.closing) this.listeners.notify();
    });
  }
}

/**
 * Hands each item of a read to `visitor`, to the end of the read; a stream that does not exist
 * reads as empty. A read is never left early, not even when `visitor` throws (that error is
 * thrown once the read has ended): leaving a for-await loop only destroys the client's readable,
 * the gRPC call under it then stays half-read, and the client's dispose() waits for it forever.
 * Every read is therefore bounded by maxCount, or by the end of its stream.
 */
async function visit<E>(read: StreamingRead<E>, visitor: (item: E) => void): Promise<void> {
  let failure: { error: unknown } | null = null;
  try {
    for await (const item of read) {
      if (failure) continue;
      try {
        visitor(item);
      } catch (error) {
        failure = { error };
      }
    }
  } catch (error) {
    if (!isStreamNotFound(error)) throw error;
  }
  if (failure) throw failure.error;
}

/** Whether `a` comes after `b` in $all. */
function isAfter(a: Position, b: Position): boolean {
  return a.commit > b.commit || (a.commit === b.commit && a.prepare > b.prepare);
}

function selectionMatcher(selection: StreamSelection): (stream: string) => boolean {
  if ('regex' in selection) {
    const pattern = new RegExp(selection.regex);
    return (stream) => pattern.test(stream);
  }
  const prefixes = [...selection.prefixes];
  if (prefixes.length === 0 || prefixes.some((prefix) => prefix.length === 0)) {
    throw new RangeError('EventStoreDB event store: stream prefixes must be non-empty');
  }
  return (stream) => prefixes.some((prefix) => stream.startsWith(prefix));
}

function isSystemOrReserved(stream: string): boolean {
  return stream.startsWith('$') || stream.startsWith(RESERVED_PREFIX);
}

function checkpointStream(subscription: string): string {
  assertCheckpoint(subscription);
  return `${CHECKPOINT_PREFIX}${subscription}`;
}

/**
 * Some of the ids may already be in the stream (`stored` is the whole stream): null when none
 * is, the original result when all are (see repeatedAppend); a mix is a conflict.
 */
function repeatedAppendResult(
  stream: string,
  events: NewEvent[],
  stored: RecordedEvent[],
  expectedRevision: ExpectedRevision,
): AppendResult | null {
  const repeated = repeatedAppend(stream, events, stored);
  if (repeated === 'partial') throw new WrongExpectedRevisionError(stream, expectedRevision, currentRevision(stored));
  return repeated;
}

function currentRevision(stored: RecordedEvent[]): number | 'no-stream' {
  return stored.at(-1)?.revision ?? 'no-stream';
}

function toEsdbExpected(expected: ExpectedRevision): AppendExpectedRevision {
  if (expected === 'no-stream') return NO_STREAM;
  if (expected === 'any') return ANY;
  return BigInt(expected);
}

function fromEsdbCurrent(actual: bigint | typeof NO_STREAM): number | 'no-stream' {
  // -1 is how the server's older error metadata spells "no stream".
  return actual === NO_STREAM || actual < 0n ? 'no-stream' : toSafeNumber(actual, 'stream revision');
}

function toEventData(event: NewEvent): JSONEventData {
  // Refused before anything is written: the client would fail on them midway through sending.
  toJsonText(event.data, event.id, 'data');
  const metadata: StoredMetadata = {
    correlationId: event.metadata.correlationId,
    causationId: event.metadata.causationId,
    actor: event.metadata.actor,
    ...(event.metadata.role !== undefined && { role: event.metadata.role }),
    schemaVersion: event.schemaVersion,
    occurredAt: event.occurredAt,
  };
  toJsonText(metadata, event.id, 'metadata');
  return {
    id: event.id,
    contentType: 'application/json',
    type: event.type,
    // The client sends JSON.stringify(data) and reads back JSON.parse of it. Its JSONType (object,
    // array or string) is narrower than JSON itself: null, numbers and booleans go through as well.
    data: event.data as JSONType,
    metadata: { ...metadata },
  };
}

function customEvent(type: string, data: Record<string, unknown>): JSONEventData {
  return { id: randomUUID(), contentType: 'application/json', type, data, metadata: undefined };
}

/** Converts a stored event; `position` comes from how it was read ($all or its stream). */
function toRecordedEvent(event: EsdbRecordedEvent, position: number): RecordedEvent {
  const metadata: unknown = event.metadata;
  if (!event.isJson || !isStoredMetadata(metadata)) {
    throw new Error(`stream ${event.streamId}: event ${event.id} (${event.type}) was not written by Custodia's event store`);
  }
  return {
    id: event.id,
    stream: event.streamId,
    revision: toSafeNumber(event.revision, 'stream revision'),
    position,
    type: event.type,
    schemaVersion: metadata.schemaVersion,
    occurredAt: metadata.occurredAt,
    data: event.data as unknown,
    metadata: {
      correlationId: metadata.correlationId,
      causationId: metadata.causationId,
      actor: metadata.actor,
      ...(typeof metadata.role === 'string' && { role: metadata.role }),
    },
  };
}

/**
 * An event's position when read from its stream. Newer servers report a self-committed event's
 * commit position there too; older ones send 2^64 - 1 ("unknown") with the prepare position, which
 * for a self-committed event is the same number (see the class comment).
 */
function streamReadPosition(event: EsdbRecordedEvent): number {
  const position = event.position;
  if (!position)
    throw new Error(`stream ${event.streamId}: the server gave no position for event ${event.id} (EventStoreDB 22.6 or later is needed)`);
  return toPosition(position.commit !== UNKNOWN_POSITION ? position.commit : position.prepare, event);
}

function toPosition(value: bigint, event: { streamId: string; id: string }): number {
  if (value <= 0n || value > MAX_POSITION) {
    throw new RangeError(`stream ${event.streamId}: event ${event.id} has position ${value}, outside 1..2^53-1`);
  }
  return Number(value);
}

function toSafeNumber(value: bigint, what: string): number {
  if (value < 0n || value > MAX_POSITION) throw new RangeError(`${what} ${value} is outside 0..2^53-1`);
  return Number(value);
}

function checkpointPosition(event: EsdbRecordedEvent): number {
  const data: unknown = event.data;
  if (isRecord(data) && Number.isSafeInteger(data.position) && (data.position as number) >= 0) return data.position as number;
  throw new Error(`stream ${event.streamId}: unreadable checkpoint ${event.id}`);
}

function isStoredMetadata(value: unknown): value is StoredMetadata {
  return (
    isRecord(value) &&
    typeof value.correlationId === 'string' &&
    (typeof value.causationId === 'string' || value.causationId === null) &&
    typeof value.actor === 'string' &&
    typeof value.schemaVersion === 'number' &&
    typeof value.occurredAt === 'string'
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isWrongExpectedVersion(error: unknown): error is WrongExpectedVersionError {
  return error instanceof Error && isCommandError(error) && error.type === ErrorType.WRONG_EXPECTED_VERSION;
}

function isStreamNotFound(error: unknown): boolean {
  return error instanceof Error && isCommandError(error) && error.type === ErrorType.STREAM_NOT_FOUND;
}
