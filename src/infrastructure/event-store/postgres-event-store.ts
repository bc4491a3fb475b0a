import { createHash, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { Client, escapeIdentifier, Pool, PoolClient, PoolConfig } from 'pg';
import {
  AppendResult,
  CheckpointStore,
  EventStore,
  ExpectedRevision,
  NewEvent,
  RecordedEvent,
  WrongExpectedRevisionError,
} from '../../application/ports/event-store';
import { describeForLog } from '../../application/describe-for-log';
import { BackoffSchedule } from '../../application/retry';
import { SerializedEvent, serializeEvent } from './sqlite-event-rows';
import { kyselyOverPool, migrateToLatest, MigrationSet, SchemaMigrationError } from '../persistence/schema-migrations';
import { AppendListeners, AppendOutcome } from './append-listeners';
import {
  assertAppendable,
  assertCheckpoint,
  assertExpectedRevision,
  assertReadAllArguments,
  assertReadStreamArguments,
  repeatedAppend,
} from './append-rules';

export interface PostgresEventStoreOptions {
  /** pg connection settings; whatever is left out comes from the PG* environment variables, as with psql. */
  connection?: PoolConfig;
  /** The schema holding the store's tables, created if missing (tests use one of their own). */
  schema?: string;
  /** Receives what an onAppended listener throws; the append that triggered it still succeeds. */
  onListenerError?: (error: unknown) => void;
  /** Receives failures of the background connections (an idle pooled one, the listening one). */
  onConnectionError?: (error: unknown) => void;
  /** First delay before the listening connection is opened again after it was lost; doubles up to 30 s. */
  listenRetryDelayMs?: number;
}

interface EventRow {
  position: string;
  id: string;
  stream: string;
  revision: number;
  type: string;
  schema_version: number;
  occurred_at: string;
  data: unknown;
  metadata: RecordedEvent['metadata'];
}

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const DEFAULT_LISTEN_RETRY_DELAY_MS = 500;
const MAX_LISTEN_RETRY_DELAY_MS = 30_000;
/** The event_store_schema version the releases before Migrator wrote, and 001_initial still writes. */
const LEGACY_SCHEMA_VERSION = 1;

/**
 * The distributed event store's schema migrations, run by Kysely's Migrator in the store's schema
 * (tables event_store_migration and event_store_migration_lock). Never edit a shipped migration.
 *
 * 001_initial is the schema the releases before Migrator created, kept IF NOT EXISTS (and the log
 * head's row ON CONFLICT DO NOTHING): a schema made by one of them (its tables there, no migration
 * table) takes it as a no-op and is then recorded. It still writes their event_store_schema row
 * (version 1), so such a release started on a newer schema finds nothing to do.
 */
export function postgresEventStoreMigrations(schema: string): MigrationSet {
  const table = (name: string) => sql.id(schema, name);
  return {
    store: 'event store',
    schema,
    tableName: 'event_store_migration',
    lockTableName: 'event_store_migration_lock',
    migrations: {
      '001_initial': {
        up: async (db) => {
          await sql`
            CREATE TABLE IF NOT EXISTS ${table('events')} (
              position bigint PRIMARY KEY CHECK (position > 0),
              id text NOT NULL UNIQUE,
              stream text NOT NULL,
              revision integer NOT NULL CHECK (revision >= 0),
              type text NOT NULL,
              schema_version integer NOT NULL,
              occurred_at text NOT NULL,
              data json NOT NULL,
              metadata json NOT NULL,
              recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
              UNIQUE (stream, revision)
            )`.execute(db);
          await sql`
            CREATE TABLE IF NOT EXISTS ${table('event_log_head')} (
              singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
              position bigint NOT NULL
            )`.execute(db);
          await sql`INSERT INTO ${table('event_log_head')} (singleton, position) VALUES (true, 0) ON CONFLICT (singleton) DO NOTHING`.execute(
            db,
          );
          await sql`
            CREATE TABLE IF NOT EXISTS ${table('checkpoints')} (
              name text PRIMARY KEY,
              position bigint NOT NULL CHECK (position >= 0)
            )`.execute(db);
          await sql`
            CREATE TABLE IF NOT EXISTS ${table('event_store_schema')} (
              singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
              version integer NOT NULL
            )`.execute(db);
          await sql`INSERT INTO ${table('event_store_schema')} (singleton, version) VALUES (true, ${LEGACY_SCHEMA_VERSION}) ON CONFLICT (singleton) DO NOTHING`.execute(
            db,
          );
        },
      },
    },
  };
}

/**
 * The PostgreSQL event store, for the distributed deployment: any number of service processes
 * share one database.
 *
 * Ordering of the global log. PostgreSQL makes a transaction's rows visible when it commits, not
 * when it takes its numbers: with positions from a sequence, an append holding position 10 can
 * commit after one holding 11, and a subscriber that read up to 11 in between would never see 10.
 * This store serialises appends instead: each append transaction first locks the single row of
 * event_log_head (which holds the last position given out) and keeps the lock until it ends.
 * PostgreSQL releases a transaction's locks only after its commit is visible to new snapshots
 * (xact.c, CommitTransaction: ProcArrayEndTransaction runs before the locks are released), so the
 * next append can only take position N+1 once N is visible to every reader: positions are handed
 * out in commit order, readAll is a plain `position > after ORDER BY position`, and the log has no
 * holes (a rolled-back append rolls its head update back too).
 *
 * Why not the transaction-id scheme (an xid8 column, and readAll only returning rows whose
 * transaction id is below pg_snapshot_xmin(pg_current_snapshot()))? Two reasons:
 *  - Ordered by position it is not safe on its own: a transaction is given its xid at its first
 *    write, independently of when it takes a position, so T1 (xid 101, position 10) can still be
 *    running when T2 (xid 100, position 11) has committed; 100 < xmin = 101, so 11 is returned
 *    and 10 is skipped once T1 commits. It is only safe with the cursor being (xid, position),
 *    which the port's single number cannot carry, or with xid and position taken under a lock.
 *  - The snapshot xmin is cluster-wide: any long transaction, in any database of the cluster
 *    (a pg_dump, a session left idle in transaction), would hide every newer event from every
 *    subscriber for as long as it runs, and readAll right after an acknowledged append would
 *    not return it.
 * The price of serialising is one append committing at a time, which a backup orchestrator's
 * event rate (a handful per backup) is far from reaching; the lock is held only for the append's
 * own few statements, never while the caller does anything else.
 *
 * onAppended listeners are called in this process right after an append commits, and every other
 * instance on the same schema is woken by a NOTIFY sent in the append's transaction (so delivered
 * only if it commits) to a dedicated LISTEN connection, reopened if it is lost.
 */
export class PostgresEventStore implements EventStore, CheckpointStore {
  private readonly listeners: AppendListeners;
  private readonly instanceId = randomUUID();
  private readonly onConnectionError: (error: unknown) => void;
  private readonly tables: { events: string; head: string; checkpoints: string };
  private readonly channel: string;
  private listener: Client | null = null;
  private listenRetryTimer: NodeJS.Timeout | null = null;
  private readonly listenBackoff: BackoffSchedule;
  private closed = false;

  private constructor(
    private readonly pool: Pool,
    private readonly connection: PoolConfig,
    readonly schema: string,
    options: PostgresEventStoreOptions,
  ) {
    const s = escapeIdentifier(schema);
    this.tables = {
      events: `${s}.events`,
      head: `${s}.event_log_head`,
      checkpoints: `${s}.checkpoints`,
    };
    // Channel names are identifiers (at most 63 bytes): a digest keeps any schema name within that.
    this.channel = `custodia_appended_${createHash('sha256').update(schema).digest('hex').slice(0, 24)}`;
    this.listeners = new AppendListeners(options.onListenerError);
    this.onConnectionError =
      options.onConnectionError ?? ((error) => console.error(`event store: PostgreSQL connection failed (${describeForLog(error)})`));
    this.listenBackoff = new BackoffSchedule({
      kind: 'exponential',
      initialMs: options.listenRetryDelayMs ?? DEFAULT_LISTEN_RETRY_DELAY_MS,
      maxMs: MAX_LISTEN_RETRY_DELAY_MS,
    });
    // Without a handler, an idle pooled connection's failure (a server restart) would end the process.
    this.pool.on('error', (error) => this.onConnectionError(error));
  }

  /** Connects, creates or updates the schema, and starts listening for other instances' appends. */
  static async open(options: PostgresEventStoreOptions = {}): Promise<PostgresEventStore> {
    const schema = options.schema ?? 'public';
    if (!SCHEMA_NAME.test(schema))
      throw new RangeError(`event store schema name must be a plain identifier, got ${JSON.stringify(schema)}`);
    const connection = options.connection ?? {};
    const store = new PostgresEventStore(new Pool(connection), connection, schema, options);
    try {
      await store.migrate();
      store.listener = await store.connectListener();
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  async append(stream: string, events: NewEvent[], expectedRevision: ExpectedRevision): Promise<AppendResult> {
    assertAppendable(stream, events, expectedRevision);
    // Serialised before the transaction, so a payload that is not JSON fails without taking the lock.
    const serialized = events.map(serializeEvent);
    const { result, wrote } = await this.inTransaction((client) => this.appendLocked(client, stream, serialized, expectedRevision));
    if (wrote) this.listeners.notify();
    return result;
  }

  async readStream(stream: string, fromRevision = 0): Promise<RecordedEvent[]> {
    assertReadStreamArguments(stream, fromRevision);
    const { rows } = await this.pool.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM ${this.tables.events} WHERE stream = $1 AND revision >= $2 ORDER BY revision`,
      [stream, fromRevision],
    );
    return rows.map(toRecordedEvent);
  }

  async readAll(afterPosition: number, limit: number): Promise<RecordedEvent[]> {
    assertReadAllArguments(afterPosition, limit);
    if (limit === 0) return [];
    // Positions are given out in commit order (see the class comment), so nothing filters here.
    const { rows } = await this.pool.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM ${this.tables.events} WHERE position > $1 ORDER BY position LIMIT $2`,
      [afterPosition, limit],
    );
    return rows.map(toRecordedEvent);
  }

  onAppended(listener: () => void): () => void {
    return this.listeners.add(listener);
  }

  async load(subscription: string): Promise<number> {
    assertCheckpoint(subscription);
    const { rows } = await this.pool.query<{ position: string }>(`SELECT position FROM ${this.tables.checkpoints} WHERE name = $1`, [
      subscription,
    ]);
    return rows.length > 0 ? Number(rows[0].position) : 0;
  }

  async save(subscription: string, position: number): Promise<void> {
    assertCheckpoint(subscription, position);
    await this.pool.query(
      `INSERT INTO ${this.tables.checkpoints} (name, position) VALUES ($1, $2)
       ON CONFLICT (name) DO UPDATE SET position = excluded.position WHERE ${this.tables.checkpoints}.position < excluded.position`,
      [subscription, position],
    );
  }

  /** Stops listening and closes every connection; the store cannot be used afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    if (this.listenRetryTimer) clearTimeout(this.listenRetryTimer);
    this.listenRetryTimer = null;
    const listener = this.listener;
    this.listener = null;
    try {
      await listener?.end();
    } finally {
      await this.pool.end();
    }
  }

  /** Runs inside the append's transaction, holding the log head's row lock from its first statement on. */
  private async appendLocked(
    client: PoolClient,
    stream: string,
    events: SerializedEvent[],
    expected: ExpectedRevision,
  ): Promise<AppendOutcome> {
    // Its own statement: in READ COMMITTED every later statement takes a new snapshot, so once the
    // lock is granted they see everything the previous lock holder committed. (Reading the stream
    // in this same statement would use the snapshot taken before waiting for the lock.)
    const head = await client.query<{ position: string }>(`SELECT position FROM ${this.tables.head} FOR UPDATE`);
    if (head.rows.length !== 1) throw new Error(`event store schema ${this.schema}: the log head row is missing`);
    const last = Number(head.rows[0].position);

    const stored = await client.query<{ id: string; stream: string; revision: number; position: string }>(
      `SELECT id, stream, revision, position FROM ${this.tables.events} WHERE id = ANY($1::text[])`,
      [events.map((event) => event.id)],
    );
    const repeated = repeatedAppend(
      stream,
      events,
      stored.rows.map((row) => ({ ...row, position: Number(row.position) })),
    );
    if (repeated === 'partial') throw new WrongExpectedRevisionError(stream, expected, await this.currentRevision(client, stream));
    if (repeated) return { result: repeated, wrote: false };

    const actual = await this.currentRevision(client, stream);
    assertExpectedRevision(stream, expected, actual);

    const before = actual === 'no-stream' ? -1 : actual;
    await client.query(
      `INSERT INTO ${this.tables.events} (position, id, stream, revision, type, schema_version, occurred_at, data, metadata)
       SELECT $1::bigint + e.ord, e.id, $2, $3::integer + e.ord, e.type, e.schema_version, e.occurred_at, e.data::json, e.metadata::json
       FROM unnest($4::text[], $5::text[], $6::integer[], $7::text[], $8::text[], $9::text[])
         WITH ORDINALITY AS e (id, type, schema_version, occurred_at, data, metadata, ord)`,
      [
        last,
        stream,
        before,
        events.map((event) => event.id),
        events.map((event) => event.type),
        events.map((event) => event.schemaVersion),
        events.map((event) => event.occurredAt),
        events.map((event) => event.data),
        events.map((event) => event.metadata),
      ],
    );
    const position = last + events.length;
    // NOTIFY is transactional: other instances hear of the append only once it has committed.
    await client.query(
      `WITH moved AS (UPDATE ${this.tables.head} SET position = $1 RETURNING position) SELECT pg_notify($2, $3) FROM moved`,
      [position, this.channel, this.instanceId],
    );
    return { result: { nextExpectedRevision: before + events.length, position }, wrote: true };
  }

  private async currentRevision(client: PoolClient, stream: string): Promise<number | 'no-stream'> {
    const { rows } = await client.query<{ revision: number | null }>(
      `SELECT max(revision) AS revision FROM ${this.tables.events} WHERE stream = $1`,
      [stream],
    );
    return rows[0].revision ?? 'no-stream';
  }

  private async inTransaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      // Explicit: the server's default might be REPEATABLE READ, where statements after the lock
      // wait would not see the previous holder's rows.
      await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        // The connection is unusable: the pool must drop it rather than hand it out again.
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      }
      throw error;
    } finally {
      client.release(broken);
    }
  }

  /**
   * Creates the schema and tables, or brings them up to date, with Kysely's Migrator over this
   * store's pool: its lock makes processes starting together take turns.
   */
  private async migrate(): Promise<void> {
    const db = kyselyOverPool(this.pool);
    try {
      // What the releases before Migrator recorded; a version above 1 comes from a newer build.
      const table = sql.id(this.schema, 'event_store_schema');
      const present = await sql<{ present: boolean }>`
        SELECT to_regclass(${`${escapeIdentifier(this.schema)}.event_store_schema`}) IS NOT NULL AS present`.execute(db);
      const legacy = present.rows[0]?.present ? await sql<{ version: number }>`SELECT version FROM ${table}`.execute(db) : { rows: [] };
      const version = legacy.rows[0]?.version ?? 0;
      if (version > LEGACY_SCHEMA_VERSION) {
        throw new SchemaMigrationError(
          'event store',
          null,
          new Error(`event store schema version ${version} is newer than this build understands (${LEGACY_SCHEMA_VERSION})`),
        );
      }
      await migrateToLatest(db, postgresEventStoreMigrations(this.schema));
    } finally {
      await db.destroy();
    }
  }

  private async connectListener(): Promise<Client> {
    const client = new Client({ keepAlive: true, ...this.connection });
    // Failures while connecting reject connect() below; later ones mean the connection is lost.
    client.on('error', (error) => this.listenerLost(client, error));
    client.on('end', () => this.listenerLost(client));
    client.on('notification', (message) => {
      // This instance's own appends have already called the listeners.
      if (message.channel === this.channel && message.payload !== this.instanceId) this.listeners.notify();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${escapeIdentifier(this.channel)}`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    return client;
  }

  private listenerLost(client: Client, error?: unknown): void {
    if (this.listener !== client) return;
    this.listener = null;
    if (error !== undefined) this.onConnectionError(error);
    client.end().catch(() => undefined);
    this.scheduleListenRetry();
  }

  private scheduleListenRetry(): void {
    if (this.closed || this.listenRetryTimer) return;
    const delay = this.listenBackoff.next();
    this.listenRetryTimer = setTimeout(() => {
      this.listenRetryTimer = null;
      this.connectListener().then(
        async (client) => {
          if (this.closed) return client.end();
          this.listener = client;
          this.listenBackoff.reset();
          // Appends made while nobody listened were not heard of: let subscribers look.
          this.listeners.notify();
        },
        (error: unknown) => {
          this.onConnectionError(error);
          this.scheduleListenRetry();
        },
      );
    }, delay);
    // A pending retry alone must not keep the process alive.
    this.listenRetryTimer.unref();
  }
}

const EVENT_COLUMNS = 'position, id, stream, revision, type, schema_version, occurred_at, data, metadata';

function toRecordedEvent(row: EventRow): RecordedEvent {
  return {
    id: row.id,
    stream: row.stream,
    revision: row.revision,
    // bigint comes back as a string; positions stay far below 2^53.
    position: Number(row.position),
    type: row.type,
    schemaVersion: row.schema_version,
    occurredAt: row.occurred_at,
    data: row.data,
    metadata: row.metadata,
  };
}
