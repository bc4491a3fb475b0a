import { Kysely, Migration } from 'kysely';

/**
 * The read-model schema, written through Kysely so the same SQL serves SQLite (embedded) and
 * PostgreSQL (distributed). Times are ISO-8601 strings; JSON columns are text.
 */
export interface SourcesTable {
  id: string;
  name: string;
  path: string;
  /** JSON array of subject rules. */
  subject_rules: string;
  /** JSON arrays: declared categories of personal data, and purposes (the record of processing). */
  data_categories: string;
  purposes: string;
  status: string;
  registered_at: string;
  updated_at: string;
}

export interface BackupsTable {
  id: string;
  source_id: string;
  type: string;
  status: string;
  requested_at: string;
  started_at: string | null;
  finished_at: string | null;
  attempt: number;
  snapshot_id: string | null;
  merkle_root: string | null;
  statistics: string | null;
  failure_code: string | null;
  failure_reason: string | null;
  verification_status: string;
  verified_at: string | null;
  /** When the backup's snapshot was removed (retention or an operator). */
  deleted_at: string | null;
}

export interface RestoresTable {
  id: string;
  backup_id: string;
  source_id: string;
  snapshot_id: string;
  target: string;
  include: string;
  purpose: string;
  /** Set for an access request: the one data subject restored (pseudonym). */
  subject_pseudonym: string | null;
  status: string;
  requested_at: string;
  started_at: string | null;
  finished_at: string | null;
  files: number | null;
  bytes: number | null;
  /** Left out because their data subject was erased. */
  skipped_files: number | null;
  skipped_bytes: number | null;
  failure_code: string | null;
  failure_reason: string | null;
}

export interface ProjectionCheckpointsTable {
  name: string;
  position: number;
}

/** Process-manager state: the jobs handed to workers and how far each got. */
export interface JobsTable {
  job_id: string;
  kind: string;
  aggregate_id: string;
  job_key: string;
  payload: string;
  attempt: number;
  status: string;
  updated_at: string;
  /** The worker's last reported progress (JSON), shown while a job runs. */
  progress: string | null;
}

/** Answers given to requests with an Idempotency-Key, replayed for a repeated request. */
export interface IdempotencyTable {
  key: string;
  fingerprint: string;
  status_code: number;
  body: string;
  created_at: string;
}

/**
 * The GDPR audit trail (Art. 5(2), 30): one row per command outcome, hash-chained so that an
 * edited, inserted or deleted row is detected (see audit-chain.ts). Ids, counts and codes only:
 * paths, restore targets and include lists are personal data and stay out of it.
 */
export interface AuditEntriesTable {
  /** 1..n in log order, without gaps. */
  sequence: number;
  event_id: string;
  event_position: number;
  occurred_at: string;
  actor: string;
  role: string;
  action: string;
  target_type: string;
  target_id: string;
  /** The purpose (legal basis) given for a data access: RestoreRequested's purpose. */
  purpose: string | null;
  outcome: string;
  /** Canonical JSON of ids, counts and codes, or null. */
  details: string | null;
  correlation_id: string;
  causation_id: string | null;
  /** The data subject concerned, as a pseudonym: erasures, key operations, access restores. */
  subject_pseudonym: string | null;
  previous_hash: string;
  hash: string;
}

/** Which backups hold data of which data subject (by pseudonym): answers access requests (Art. 15). */
export interface SubjectBackupsTable {
  subject_pseudonym: string;
  backup_id: string;
  snapshot_id: string;
  files: number;
  bytes: number;
  completed_at: string;
}

/** Erasure requests (Art. 17) and how each ended. */
export interface ErasuresTable {
  id: string;
  subject_pseudonym: string;
  legal_basis: string;
  requested_by: string;
  status: string;
  requested_at: string;
  completed_at: string | null;
  keys_shredded: number | null;
  failure_code: string | null;
  failure_reason: string | null;
}

/**
 * Events a projection could not apply, even alone and after retries, and stepped over so that
 * the events after them are still projected. The event itself stays in the log: fix the
 * projection, then `custodia projections rebuild` applies it.
 */
export interface ProjectionFailuresTable {
  projection: string;
  position: number;
  event_id: string;
  event_type: string;
  error: string;
  parked_at: string;
}

/** One attempt of a job (JobAttemptsProjection): who ran it and how it ended, if not with the job. */
export interface JobAttemptsTable {
  job_id: string;
  attempt: number;
  kind: string;
  /** The backup, restore, deletion, verification or erasure the job works for. */
  aggregate_id: string;
  worker: string | null;
  started_at: string | null;
  /** Set when the attempt ended without finishing the job (time-out, lost, failure). */
  ended_at: string | null;
  outcome: string | null;
  code: string | null;
  /** When this attempt was handed out as a retry of the one before. */
  dispatched_at: string | null;
}

export interface ReadModelDatabase {
  sources: SourcesTable;
  backups: BackupsTable;
  restores: RestoresTable;
  projection_checkpoints: ProjectionCheckpointsTable;
  jobs: JobsTable;
  idempotency_keys: IdempotencyTable;
  audit_entries: AuditEntriesTable;
  subject_backups: SubjectBackupsTable;
  erasures: ErasuresTable;
  projection_failures: ProjectionFailuresTable;
  job_attempts: JobAttemptsTable;
}

export type ReadModel = Kysely<ReadModelDatabase>;

/** The columns a table has now (the adapter asks its database in its own dialect). */
export type ColumnLister = (db: ReadModel, table: string) => Promise<string[]>;

/**
 * Columns added after their table was first released. A read model created by an older build
 * gets them added, and since their values come from events already applied, the projection that
 * fills the table is cleared and replays the log from the start (read models are derived: no
 * stored fact is lost). `projection: null` marks process state, which needs no replay.
 *
 * The builds before Migrator added the missing ones at every start, so a read model may have any
 * of them already: 002_later_columns looks at the columns first and adds only those missing.
 */
const LATER_COLUMNS: {
  table: keyof ReadModelDatabase;
  column: string;
  type: 'text' | 'bigint';
  defaultValue?: string;
  /** The projection that fills the table (it owns that table alone), or null for process state. */
  projection: string | null;
}[] = [
  { table: 'sources', column: 'subject_rules', type: 'text', defaultValue: '[]', projection: 'sources' },
  { table: 'sources', column: 'data_categories', type: 'text', defaultValue: '[]', projection: 'sources' },
  { table: 'sources', column: 'purposes', type: 'text', defaultValue: '[]', projection: 'sources' },
  { table: 'restores', column: 'skipped_files', type: 'bigint', projection: 'restore-history' },
  { table: 'restores', column: 'skipped_bytes', type: 'bigint', projection: 'restore-history' },
  { table: 'restores', column: 'subject_pseudonym', type: 'text', projection: 'restore-history' },
  { table: 'jobs', column: 'progress', type: 'text', projection: null },
  { table: 'backups', column: 'deleted_at', type: 'text', projection: 'backup-catalog' },
];

/** Adds the columns an older read model lacks; returns the projections reset to replay. */
async function addLaterColumns(db: ReadModel, columnsOf: ColumnLister): Promise<string[]> {
  const replay = new Map<string, keyof ReadModelDatabase>();
  const existing = new Map<string, string[]>();
  for (const later of LATER_COLUMNS) {
    if (!existing.has(later.table)) existing.set(later.table, await columnsOf(db, later.table));
    if (existing.get(later.table)?.includes(later.column)) continue;
    const { defaultValue } = later;
    await db.schema
      .alterTable(later.table)
      .addColumn(later.column, later.type, (c) => (defaultValue === undefined ? c : c.notNull().defaultTo(defaultValue)))
      .execute();
    if (later.projection) replay.set(later.projection, later.table);
  }
  for (const [name, table] of replay) {
    await db.deleteFrom(table).execute();
    await db.deleteFrom('projection_checkpoints').where('name', '=', name).execute();
  }
  return [...replay.keys()];
}

/** The tables as the last build before Migrator created them (portable DDL: text, integer, bigint). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a migration sees the database untyped
async function createTables(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('sources')
    .ifNotExists()
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('subject_rules', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('data_categories', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('purposes', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('registered_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('backups')
    .ifNotExists()
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('source_id', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('requested_at', 'text', (c) => c.notNull())
    .addColumn('started_at', 'text')
    .addColumn('finished_at', 'text')
    .addColumn('attempt', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('snapshot_id', 'text')
    .addColumn('merkle_root', 'text')
    .addColumn('statistics', 'text')
    .addColumn('failure_code', 'text')
    .addColumn('failure_reason', 'text')
    .addColumn('verification_status', 'text', (c) => c.notNull().defaultTo('none'))
    .addColumn('verified_at', 'text')
    .addColumn('deleted_at', 'text')
    .execute();
  await db.schema.createIndex('backups_by_source').ifNotExists().on('backups').columns(['source_id', 'requested_at']).execute();
  await db.schema
    .createTable('restores')
    .ifNotExists()
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('backup_id', 'text', (c) => c.notNull())
    .addColumn('source_id', 'text', (c) => c.notNull())
    .addColumn('snapshot_id', 'text', (c) => c.notNull())
    .addColumn('target', 'text', (c) => c.notNull())
    .addColumn('include', 'text', (c) => c.notNull())
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('subject_pseudonym', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('requested_at', 'text', (c) => c.notNull())
    .addColumn('started_at', 'text')
    .addColumn('finished_at', 'text')
    .addColumn('files', 'bigint')
    .addColumn('bytes', 'bigint')
    .addColumn('skipped_files', 'bigint')
    .addColumn('skipped_bytes', 'bigint')
    .addColumn('failure_code', 'text')
    .addColumn('failure_reason', 'text')
    .execute();
  await db.schema
    .createTable('projection_checkpoints')
    .ifNotExists()
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('position', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('jobs')
    .ifNotExists()
    .addColumn('job_id', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('aggregate_id', 'text', (c) => c.notNull())
    .addColumn('job_key', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('attempt', 'integer', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('progress', 'text')
    .execute();
  await db.schema
    .createTable('idempotency_keys')
    .ifNotExists()
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('fingerprint', 'text', (c) => c.notNull())
    .addColumn('status_code', 'integer', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('audit_entries')
    .ifNotExists()
    .addColumn('sequence', 'bigint', (c) => c.primaryKey())
    .addColumn('event_id', 'text', (c) => c.notNull().unique())
    .addColumn('event_position', 'bigint', (c) => c.notNull())
    .addColumn('occurred_at', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('target_type', 'text', (c) => c.notNull())
    .addColumn('target_id', 'text', (c) => c.notNull())
    .addColumn('purpose', 'text')
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('details', 'text')
    .addColumn('correlation_id', 'text', (c) => c.notNull())
    .addColumn('causation_id', 'text')
    .addColumn('subject_pseudonym', 'text')
    .addColumn('previous_hash', 'text', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('subject_backups')
    .ifNotExists()
    .addColumn('subject_pseudonym', 'text', (c) => c.notNull())
    .addColumn('backup_id', 'text', (c) => c.notNull())
    .addColumn('snapshot_id', 'text', (c) => c.notNull())
    .addColumn('files', 'bigint', (c) => c.notNull())
    .addColumn('bytes', 'bigint', (c) => c.notNull())
    .addColumn('completed_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('subject_backups_pk', ['subject_pseudonym', 'backup_id'])
    .execute();
  await db.schema
    .createTable('erasures')
    .ifNotExists()
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('subject_pseudonym', 'text', (c) => c.notNull())
    .addColumn('legal_basis', 'text', (c) => c.notNull())
    .addColumn('requested_by', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('requested_at', 'text', (c) => c.notNull())
    .addColumn('completed_at', 'text')
    .addColumn('keys_shredded', 'integer')
    .addColumn('failure_code', 'text')
    .addColumn('failure_reason', 'text')
    .execute();
  await db.schema
    .createTable('projection_failures')
    .ifNotExists()
    .addColumn('projection', 'text', (c) => c.notNull())
    .addColumn('position', 'bigint', (c) => c.notNull())
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('event_type', 'text', (c) => c.notNull())
    .addColumn('error', 'text', (c) => c.notNull())
    .addColumn('parked_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('projection_failures_pk', ['projection', 'position'])
    .execute();
  await db.schema.createIndex('erasures_by_subject').ifNotExists().on('erasures').columns(['subject_pseudonym', 'requested_at']).execute();
  await db.schema.createIndex('audit_entries_by_actor').ifNotExists().on('audit_entries').columns(['actor', 'sequence']).execute();
  await db.schema.createIndex('audit_entries_by_time').ifNotExists().on('audit_entries').columns(['occurred_at', 'sequence']).execute();
  await db.schema
    .createIndex('audit_entries_by_subject')
    .ifNotExists()
    .on('audit_entries')
    .columns(['subject_pseudonym', 'sequence'])
    .execute();
}

/** Kysely's Migrator tables of the read model (its schema may be shared with the event store's and key vault's). */
export const READ_MODEL_MIGRATION_TABLE = 'read_model_migration';
export const READ_MODEL_MIGRATION_LOCK_TABLE = 'read_model_migration_lock';

/**
 * The read model's schema migrations, run by Kysely's Migrator (the adapters run them). Never
 * edit a shipped migration: add the next one.
 *
 * 001_initial is the schema the last build before Migrator created, kept IF NOT EXISTS, so a
 * read model made by it (tables there, no migration table) takes it as a no-op and is recorded.
 * 002_later_columns brings along a read model of a build older still; the projections it resets
 * to replay the log are pushed onto `replayed`.
 */
export function readModelMigrations(columnsOf: ColumnLister, replayed: string[]): Record<string, Migration> {
  return {
    '001_initial': { up: createTables },
    '002_later_columns': {
      up: async (db) => {
        replayed.push(...(await addLaterColumns(db, columnsOf)));
      },
    },
    // A table of a new projection: it fills it from the start of the log on its own (no checkpoint yet).
    '003_job_attempts': {
      up: async (db) => {
        await db.schema
          .createTable('job_attempts')
          .ifNotExists()
          .addColumn('job_id', 'text', (c) => c.notNull())
          .addColumn('attempt', 'integer', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('aggregate_id', 'text', (c) => c.notNull())
          .addColumn('worker', 'text')
          .addColumn('started_at', 'text')
          .addColumn('ended_at', 'text')
          .addColumn('outcome', 'text')
          .addColumn('code', 'text')
          .addColumn('dispatched_at', 'text')
          .addPrimaryKeyConstraint('job_attempts_pkey', ['job_id', 'attempt'])
          .execute();
        await db.schema.createIndex('job_attempts_by_aggregate').ifNotExists().on('job_attempts').column('aggregate_id').execute();
      },
    },
  };
}
