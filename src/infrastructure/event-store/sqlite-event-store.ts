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
import { deserializeEvent, EventRow, SerializedEvent, serializeEvent } from './sqlite-event-rows';
import { migrate } from './sqlite-schema';
import { AppendListeners, AppendOutcome } from './append-listeners';
import {
  assertAppendable,
  assertCheckpoint,
  assertExpectedRevision,
  assertReadAllArguments,
  assertReadStreamArguments,
  repeatedAppend,
  StoredEventId,
} from './append-rules';

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

  /** Opens (creating if missing) the file and brings its schema up to date. */
  static async open(file: string, options: SqliteEventStoreOptions = {}): Promise<SqliteEventStore> {
    // The log holds every decision, paths and pseudonyms included: 0600, with its -wal and -shm.
    preparePrivateDatabaseFile(file);
    const db = new Database(file, { timeout: options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS });
    try {
      db.pragma('journal_mode = WAL');
      // WAL with synchronous=NORMAL may lose the last commits on power loss; an acknowledged
      // append must survive, so every commit syncs the WAL.
      db.pragma('synchronous = FULL');
      await migrate(db);
      return new SqliteEventStore(db, options);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  private constructor(db: Database.Database, options: SqliteEventStoreOptions) {
    this.db = db;
    this.statements = prepareStatements(this.db);
    this.listeners = new AppendListeners(options.onListenerError);
    const append = this.db.transaction((stream: string, events: SerializedEvent[], expected: ExpectedRevision) =>
      this.appendLocked(stream, events, expected),
    );
    this.appendInTransaction = (stream, events, expected) => append.immediate(stream, events, expected);
  }

  async append(stream: string, events: NewEvent[], expectedRevision: ExpectedRevision): Promise<AppendResult> {
    assertAppendable(stream, events, expectedRevision);
    const { result, wrote } = this.appendInTransaction(stream, events.map(serializeEvent), expectedRevision);
    if (wrote) this.listeners.notify();
    return result;
  }

  async readStream(stream: string, fromRevision = 0): Promise<RecordedEvent[]> {
    assertReadStreamArguments(stream, fromRevision);
    return this.statements.readStream.all(stream, fromRevision).map(deserializeEvent);
  }

  async readAll(afterPosition: number, limit: number): Promise<RecordedEvent[]> {
    assertReadAllArguments(afterPosition, limit);
    if (limit === 0) return [];
    return this.statements.readAll.all(afterPosition, limit).map(deserializeEvent);
  }

  onAppended(listener: () => void): () => void {
    return this.listeners.add(listener);
  }

  async load(subscription: string): Promise<number> {
    assertCheckpoint(subscription);
    return this.statements.loadCheckpoint.get(subscription) ?? 0;
  }

  async save(subscription: string, position: number): Promise<void> {
    assertCheckpoint(subscription, position);
    this.db.transaction(() => this.statements.saveCheckpoint.run(subscription, position)).immediate();
  }

  async close(): Promise<void> {
    this.listeners.clear();
    if (this.db.open) this.db.close();
  }

  /** Runs inside the IMMEDIATE transaction: nothing another writer does can interleave. */
  private appendLocked(stream: string, events: SerializedEvent[], expected: ExpectedRevision): AppendOutcome {
    const stored: StoredEventId[] = this.statements.findIds.all(JSON.stringify(events.map((event) => event.id)));
    const repeated = repeatedAppend(stream, events, stored);
    if (repeated === 'partial') throw new WrongExpectedRevisionError(stream, expected, this.currentRevision(stream));
    if (repeated) return { result: repeated, wrote: false };

    const actual = this.currentRevision(stream);
    assertExpectedRevision(stream, expected, actual);

    let revision = actual === 'no-stream' ? -1 : actual;
    let position = 0;
    for (const event of events) {
      revision += 1;
      position = Number(this.statements.insert.run({ ...event, stream, revision }).lastInsertRowid);
    }
    return { result: { nextExpectedRevision: revision, position }, wrote: true };
  }

  private currentRevision(stream: string): number | 'no-stream' {
    return this.statements.lastRevision.get(stream) ?? 'no-stream';
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
      `INSERT INTO checkpoints (name, position) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET position = excluded.position WHERE position < excluded.position`,
    ),
  };
}
