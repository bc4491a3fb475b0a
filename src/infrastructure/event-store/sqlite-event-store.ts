import Database from 'better-sqlite3';
import { preparePrivateDatabaseFile } from '../config/file-permissions';
import {
  AppendResult,
  CheckpointStore,
  EventStore,
  ExpectedRevision,
  NewEvent,
  RecordedEvent,
  WrongExpectedRevisionError,
} from '../../application/ports/event-store';
import { DuplicateEventIdError } from './duplicate-event-id-error';
import { deserializeEvent, EventRow, SerializedEvent, serializeEvent } from './sqlite-event-rows';
import { migrate } from './sqlite-schema';
import { AppendListeners, AppendOutcome, StoredEventId } from './append-listeners';

export interface SqliteEventStoreOptions {
  /** How long a write waits for another connection (another process) to release the write lock. */
  busyTimeoutMs?: number;
  /** Receives what an onAppended listener throws; the append that triggered it still succeeds. */
  onListenerError?: (error: unknown) => void;
}

const DEFAULT_BUSY_TIMEOUT_MS = 10_000;

/**
 * The embedded event store: one SQLite file holding the global log and the subscription
 * checkpoints. Several instances, in one process or several, may share the file: every write is
 * an IMMEDIATE transaction, so SQLite serialises writers, and positions (AUTOINCREMENT rowids
 * taken under the write lock) are assigned in commit order, which is what lets readAll promise
 * never to skip an event.
 */
export class SqliteEventStore implements EventStore, CheckpointStore {
  private readonly db: Database.Database;
  private readonly statements: ReturnType<typeof prepareStatements>;
  private readonly listeners: AppendListeners;
  private readonly appendInTransaction: (stream: string, events: SerializedEvent[], expected: ExpectedRevision) => AppendOutcome;

  constructor(file: string, options: SqliteEventStoreOptions = {}) {
    // The log holds every decision, paths and pseudonyms included: 0600, with its -wal and -shm.
    preparePrivateDatabaseFile(file);
    this.db = new Database(file, { timeout: options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS });
    try {
      this.db.pragma('journal_mode = WAL');
      // WAL with synchronous=NORMAL may lose the last commits on power loss; an acknowledged
      // append must survive, so every commit syncs the WAL.
      this.db.pragma('synchronous = FULL');
      migrate(this.db);
      this.statements = prepareStatements(this.db);
    } catch (error) {
      this.db.close();
      throw error;
    }
    this.listeners = new AppendListeners(options.onListenerError);
    const append = this.db.transaction((stream: string, events: SerializedEvent[], expected: ExpectedRevision) =>
      this.appendLocked(stream, events, expected),
    );
    this.appendInTransaction = (stream, events, expected) => append.immediate(stream, events, expected);
  }

  async append(stream: string, events: NewEvent[], expectedRevision: ExpectedRevision): Promise<AppendResult> {
    if (events.length === 0) throw new RangeError(`append to stream ${stream}: no events given`);
    assertDistinctIds(stream, events);
    const { result, wrote } = this.appendInTransaction(stream, events.map(serializeEvent), expectedRevision);
    if (wrote) this.listeners.notify();
    return result;
  }

  async readStream(stream: string, fromRevision = 0): Promise<RecordedEvent[]> {
    return this.statements.readStream.all(stream, fromRevision).map(deserializeEvent);
  }

  async readAll(afterPosition: number, limit: number): Promise<RecordedEvent[]> {
    // SQLite reads a negative LIMIT as "no limit", so a bad limit must not reach it.
    if (!Number.isInteger(limit) || limit < 0) throw new RangeError(`readAll: limit must be a non-negative integer, got ${limit}`);
    if (limit === 0) return [];
    return this.statements.readAll.all(afterPosition, limit).map(deserializeEvent);
  }

  onAppended(listener: () => void): () => void {
    return this.listeners.add(listener);
  }

  async load(subscription: string): Promise<number> {
    return this.statements.loadCheckpoint.get(subscription) ?? 0;
  }

  async save(subscription: string, position: number): Promise<void> {
    if (!Number.isSafeInteger(position) || position < 0) {
      throw new RangeError(`checkpoint ${subscription}: position must be a non-negative integer, got ${position}`);
    }
    this.db.transaction(() => this.statements.saveCheckpoint.run(subscription, position)).immediate();
  }

  async close(): Promise<void> {
    this.listeners.clear();
    if (this.db.open) this.db.close();
  }

  /** Runs inside the IMMEDIATE transaction: nothing another writer does can interleave. */
  private appendLocked(stream: string, events: SerializedEvent[], expected: ExpectedRevision): AppendOutcome {
    const stored = this.statements.findIds.all(JSON.stringify(events.map((event) => event.id)));
    if (stored.length > 0) return { result: this.repeatedAppendResult(stream, events, stored, expected), wrote: false };

    const actual = this.currentRevision(stream);
    // 'no-stream' === 'no-stream' and number === number: the two ways an expectation can hold.
    if (expected !== 'any' && expected !== actual) throw new WrongExpectedRevisionError(stream, expected, actual);

    let revision = actual === 'no-stream' ? -1 : actual;
    let position = 0;
    for (const event of events) {
      revision += 1;
      position = Number(this.statements.insert.run({ ...event, stream, revision }).lastInsertRowid);
    }
    return { result: { nextExpectedRevision: revision, position }, wrote: true };
  }

  /**
   * Some ids are already stored. A retry carries the expected revision its first attempt had,
   * which no longer matches, so this is decided on the ids alone, before the revision check.
   */
  private repeatedAppendResult(
    stream: string,
    events: SerializedEvent[],
    stored: StoredEventId[],
    expected: ExpectedRevision,
  ): AppendResult {
    const elsewhere = stored.find((event) => event.stream !== stream);
    if (elsewhere) throw new DuplicateEventIdError(elsewhere.id, elsewhere.stream, stream);
    if (stored.length < events.length) throw new WrongExpectedRevisionError(stream, expected, this.currentRevision(stream));
    return {
      nextExpectedRevision: Math.max(...stored.map((event) => event.revision)),
      position: Math.max(...stored.map((event) => event.position)),
    };
  }

  private currentRevision(stream: string): number | 'no-stream' {
    return this.statements.lastRevision.get(stream) ?? 'no-stream';
  }
}

function assertDistinctIds(stream: string, events: NewEvent[]): void {
  const ids = new Set<string>();
  for (const { id } of events) {
    if (ids.has(id)) throw new RangeError(`append to stream ${stream}: event id ${id} appears twice in one append`);
    ids.add(id);
  }
}

function prepareStatements(db: Database.Database) {
  return {
    insert: db.prepare<[SerializedEvent & { stream: string; revision: number }]>(
      `INSERT INTO events (id, stream, revision, type, schema_version, occurred_at, data, metadata)
       VALUES (@id, @stream, @revision, @type, @schemaVersion, @occurredAt, @data, @metadata)`,
    ),
    findIds: db.prepare<[idsJson: string], StoredEventId>(
      `SELECT id, stream, revision, position FROM events WHERE id IN (SELECT value FROM json_each(?))`,
    ),
    lastRevision: db.prepare<[stream: string], number | null>(`SELECT MAX(revision) FROM events WHERE stream = ?`).pluck(),
    readStream: db.prepare<[stream: string, fromRevision: number], EventRow>(
      `SELECT * FROM events WHERE stream = ? AND revision >= ? ORDER BY revision`,
    ),
    readAll: db.prepare<[afterPosition: number, limit: number], EventRow>(
      `SELECT * FROM events WHERE position > ? ORDER BY position LIMIT ?`,
    ),
    loadCheckpoint: db.prepare<[name: string], number>(`SELECT position FROM checkpoints WHERE name = ?`).pluck(),
    saveCheckpoint: db.prepare<[name: string, position: number]>(
      `INSERT INTO checkpoints (name, position) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET position = excluded.position`,
    ),
  };
}
