import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { escapeIdentifier, Pool, PoolConfig } from 'pg';
import { describeForLog } from '../../application/describe-for-log';
import { EngineError } from '../../engine';
import { DecryptionError, open, seal } from '../../engine/crypto/aead';
import { MasterKey } from '../../engine/crypto/master-key';
import { AAD, SUBJECT_KEY_ID_PATTERN } from '../../engine/repository/format';
import { KeyVault, ShredResult, SubjectKeyInfo, SubjectKeyMaterial, SubjectKeyStatus } from '../../engine/subjects/key-vault';
import { assertPseudonym } from '../../engine/subjects/pseudonym';
import { kyselyOverPool, migrateToLatest, MigrationSet } from './schema-migrations';

export interface PostgresKeyVaultOptions {
  /** pg connection settings; whatever is left out comes from the PG* environment variables, as with psql. */
  connection?: PoolConfig;
  /** The schema holding the subject_keys table, created if missing. */
  schema?: string;
  /** Receives failures of idle pooled connections (a server restart), which would otherwise end the process. */
  onConnectionError?: (error: unknown) => void;
  /** Receives a failure of the best-effort VACUUM after a shred (the shred itself has succeeded). */
  onVacuumError?: (error: unknown) => void;
}

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
/** getOrCreate retries when the active key it lost a race to is shredded before it could read it. */
const CREATE_ATTEMPTS = 5;

interface KeyRow {
  key_id: string;
  wrapped: Buffer | null;
  shredded_at: Date | null;
}

/**
 * The distributed key vault: subject keys in a PostgreSQL table, `subject_keys` in the configured
 * schema, shared by every process of the deployment. Each key is stored as the embedded vault
 * stores it, sealed under the master key's `subjectKeyWrapKey` with associated data naming the
 * pseudonym and key id: the database alone never holds a usable key, and a row's key cannot be
 * passed off as another subject's or another key id's.
 *
 * A subject has at most one active key, enforced by a partial unique index, so getOrCreate is
 * safe across processes: INSERT ... ON CONFLICT DO NOTHING, then read whichever key won.
 * Shredding is one UPDATE (wrapped = NULL, shredded_at = now()) over every active key of the
 * subject; the row stays as the record that the key was destroyed on purpose.
 *
 * What shredding cannot reach. PostgreSQL is MVCC: the UPDATE writes a new row version and leaves
 * the old one, wrapped key included, in the table file as a dead tuple until VACUUM removes it
 * (only once no transaction older than the shred is still running; VACUUM frees the space but
 * does not promise to overwrite the bytes, only a rewrite such as VACUUM FULL does). The
 * INSERT that created the key is also in the WAL, so the wrapped key survives in archived WAL,
 * replicas' histories and base backups until those age out, and in server logs if statements
 * are logged with their parameters. Each such copy is useless without the repository's master
 * key, but the erasure is only complete once they are gone: retention of WAL archives and
 * database backups belongs to the erasure policy. After each shred the vault runs a best-effort
 * `VACUUM (SKIP_LOCKED)` of the (small) table, which never blocks and never fails the shred.
 *
 * One schema serves one repository: keys wrapped under another repository's master key do not
 * open here (REPO_DAMAGED).
 */
export class PostgresKeyVault implements KeyVault {
  private readonly table: string;
  private readonly onVacuumError: (error: unknown) => void;
  private closed = false;

  private constructor(
    private readonly pool: Pool,
    private readonly master: MasterKey,
    readonly schema: string,
    options: PostgresKeyVaultOptions,
  ) {
    this.table = `${escapeIdentifier(schema)}.subject_keys`;
    const onConnectionError =
      options.onConnectionError ??
      ((error: unknown) => console.error(`key vault: PostgreSQL connection failed (${describeForLog(error)})`));
    this.pool.on('error', onConnectionError);
    this.onVacuumError =
      options.onVacuumError ?? ((error: unknown) => console.error(`key vault: VACUUM after a shred failed (${describeForLog(error)})`));
  }

  /**
   * Connects and brings the schema up to date (creating it and the table if missing) with Kysely's
   * Migrator, whose lock makes processes starting together take turns.
   */
  static async open(master: MasterKey, options: PostgresKeyVaultOptions = {}): Promise<PostgresKeyVault> {
    const schema = options.schema ?? 'public';
    if (!SCHEMA_NAME.test(schema)) throw new RangeError(`key vault schema name must be a plain identifier, got ${JSON.stringify(schema)}`);
    // allowExitOnIdle: without a close hook of its owner, idle connections must not keep the process alive.
    const vault = new PostgresKeyVault(new Pool({ allowExitOnIdle: true, ...options.connection }), master, schema, options);
    try {
      await vault.migrate();
    } catch (error) {
      await vault.close();
      throw error;
    }
    return vault;
  }

  async getOrCreate(pseudonym: string): Promise<SubjectKeyMaterial> {
    assertPseudonym(pseudonym);
    for (let attempt = 0; attempt < CREATE_ATTEMPTS; attempt++) {
      const existing = await this.get(pseudonym);
      if (existing) return existing;
      const keyId = randomBytes(16).toString('hex');
      const key = randomBytes(32);
      const wrapped = seal(this.master.subjectKeyWrapKey, key, AAD.subjectKey(pseudonym, keyId));
      // A concurrent insert of another active key for the subject waits for that one to commit,
      // then inserts nothing; the next statement (a new snapshot) reads the winner's key.
      const inserted = await this.pool.query(
        `INSERT INTO ${this.table} (pseudonym, key_id, wrapped) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
        [pseudonym, keyId, wrapped],
      );
      if (inserted.rowCount === 1) return { pseudonym, keyId, key, created: true };
    }
    throw new Error(`key vault: could not create a key for subject ${pseudonym} (shredded during each of ${CREATE_ATTEMPTS} attempts)`);
  }

  async get(pseudonym: string, keyId?: string): Promise<SubjectKeyMaterial | null> {
    assertPseudonym(pseudonym);
    if (keyId !== undefined) assertKeyId(keyId);
    // Of several active keys (impossible here, but allowed by the port), the first is used.
    const { rows } = await this.pool.query<KeyRow>(
      keyId === undefined
        ? `SELECT key_id, wrapped, shredded_at FROM ${this.table} WHERE pseudonym = $1 AND shredded_at IS NULL ORDER BY key_id LIMIT 1`
        : `SELECT key_id, wrapped, shredded_at FROM ${this.table} WHERE pseudonym = $1 AND key_id = $2`,
      keyId === undefined ? [pseudonym] : [pseudonym, keyId],
    );
    const [row] = rows;
    if (!row || row.shredded_at !== null) return null;
    return { pseudonym, keyId: row.key_id, key: this.unwrap(pseudonym, row) };
  }

  async status(pseudonym: string, keyId?: string): Promise<SubjectKeyStatus> {
    assertPseudonym(pseudonym);
    if (keyId !== undefined) assertKeyId(keyId);
    const { rows } = await this.pool.query<{ active: boolean | null; known: boolean }>(
      `SELECT bool_or(shredded_at IS NULL) AS active, count(*) > 0 AS known FROM ${this.table}
       WHERE pseudonym = $1 AND ($2::text IS NULL OR key_id = $2)`,
      [pseudonym, keyId ?? null],
    );
    const [{ active, known }] = rows;
    return active ? 'active' : known ? 'shredded' : 'unknown';
  }

  async shred(pseudonym: string): Promise<ShredResult> {
    assertPseudonym(pseudonym);
    // One statement: the outer SELECT sees the rows as they were before the UPDATE, so `known`
    // says whether the subject had any key, active (shredded now) or shredded before.
    const { rows } = await this.pool.query<{ shredded: number; known: boolean }>(
      `WITH shredded AS (
         UPDATE ${this.table} SET wrapped = NULL, shredded_at = now()
         WHERE pseudonym = $1 AND shredded_at IS NULL RETURNING key_id
       )
       SELECT (SELECT count(*) FROM shredded)::integer AS shredded,
              EXISTS (SELECT 1 FROM ${this.table} WHERE pseudonym = $1) AS known`,
      [pseudonym],
    );
    const [{ shredded, known }] = rows;
    if (shredded > 0) await this.vacuum();
    return { keysShredded: shredded, status: known ? 'shredded' : 'unknown' };
  }

  async list(): Promise<SubjectKeyInfo[]> {
    const { rows } = await this.pool.query<{ pseudonym: string; key_id: string; shredded_at: Date | null }>(
      `SELECT pseudonym, key_id, shredded_at FROM ${this.table}`,
    );
    return rows
      .map(({ pseudonym, key_id: keyId, shredded_at: shreddedAt }): SubjectKeyInfo =>
        shreddedAt === null
          ? { pseudonym, keyId, status: 'active' }
          : { pseudonym, keyId, status: 'shredded', shreddedAt: shreddedAt.toISOString() },
      )
      .sort((a, b) => a.pseudonym.localeCompare(b.pseudonym) || a.keyId.localeCompare(b.keyId));
  }

  /** Closes every connection; the vault cannot be used afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  private unwrap(pseudonym: string, row: KeyRow): Buffer {
    const where = `subject key ${row.key_id} of subject ${pseudonym} in PostgreSQL table ${this.table}`;
    if (row.wrapped === null) throw new EngineError('REPO_DAMAGED', `${where} has no key but is not marked shredded`);
    try {
      return open(this.master.subjectKeyWrapKey, row.wrapped, AAD.subjectKey(pseudonym, row.key_id));
    } catch (error) {
      if (!(error instanceof DecryptionError)) throw error;
      throw new EngineError('REPO_DAMAGED', `${where} is damaged (modified, or wrapped under another repository's master key)`);
    }
  }

  /**
   * Best effort: removes the dead row versions still holding the shredded wrapped keys. Outside
   * any transaction (VACUUM cannot run in one); SKIP_LOCKED returns at once when another VACUUM
   * (autovacuum) holds the table. A role that does not own the table only gets a warning.
   */
  private async vacuum(): Promise<void> {
    try {
      await this.pool.query(`VACUUM (SKIP_LOCKED) ${this.table}`);
    } catch (error) {
      this.onVacuumError(error);
    }
  }

  private async migrate(): Promise<void> {
    const db = kyselyOverPool(this.pool);
    try {
      await migrateToLatest(db, keyVaultMigrations(this.schema));
    } finally {
      await db.destroy();
    }
  }
}

/**
 * The key vault's schema migrations. 001_initial is the schema the releases before Migrator
 * created by hand, with IF NOT EXISTS, so such a vault (its table there, no migration table)
 * takes it as a no-op and is then recorded as migrated.
 */
export function keyVaultMigrations(schema: string): MigrationSet {
  const table = sql.id(schema, 'subject_keys');
  return {
    store: 'key vault',
    schema,
    tableName: 'key_vault_migration',
    lockTableName: 'key_vault_migration_lock',
    migrations: {
      '001_initial': {
        up: async (db) => {
          await sql`
            CREATE TABLE IF NOT EXISTS ${table} (
              pseudonym text NOT NULL,
              key_id text NOT NULL,
              wrapped bytea NULL,
              created_at timestamptz NOT NULL DEFAULT now(),
              shredded_at timestamptz NULL,
              PRIMARY KEY (pseudonym, key_id),
              CHECK ((wrapped IS NULL) = (shredded_at IS NOT NULL))
            )`.execute(db);
          await sql`CREATE UNIQUE INDEX IF NOT EXISTS subject_keys_one_active ON ${table} (pseudonym) WHERE shredded_at IS NULL`.execute(
            db,
          );
        },
      },
    },
  };
}

function assertKeyId(keyId: string): void {
  if (!SUBJECT_KEY_ID_PATTERN.test(keyId)) throw new EngineError('INVALID_ARGUMENT', `"${keyId}" is not a subject key id`);
}
