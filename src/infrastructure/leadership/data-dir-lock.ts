import Database from 'better-sqlite3';
import * as path from 'node:path';
import { Leadership, LeaderRoles, LeadershipStatus } from '../../application/ports/leadership';
import { preparePrivateDatabaseFile } from '../config/file-permissions';

/** A second `serve` on a DATA_DIR in use; `code` is what the start-up error line shows. */
export class DataDirInUseError extends Error {
  readonly code = 'DATA_DIR_IN_USE';
}

/**
 * The embedded mode's lease: one `serve` process per DATA_DIR, enforced by an exclusive SQLite
 * lock on `DATA_DIR/serve.lock` held for the life of the process. The operating system drops the
 * lock when the process dies (kill -9 included), so a restart never finds a stale lock. A second
 * process on the same folder is refused at start: its in-process bus and worker could not share
 * the first one's jobs anyway (several processes need PostgreSQL, see README).
 */
export class DataDirLock implements Leadership {
  private db: Database.Database | null = null;
  private roles: LeaderRoles | null = null;
  private since: string | null = null;

  constructor(private readonly dataDir: string) {}

  /** Takes the lock (or refuses, with DataDirInUseError) and leads at once: there is no one to wait for. */
  async campaign(roles: LeaderRoles): Promise<void> {
    this.db = this.lock();
    this.roles = roles;
    this.since = new Date().toISOString();
    await roles.lead();
  }

  status(): LeadershipStatus {
    return { role: this.since !== null ? 'leader' : 'standby', since: this.since, lease: 'data-dir-lock' };
  }

  async stop(): Promise<void> {
    if (this.since !== null) await this.roles?.stepDown();
    this.since = null;
    this.db?.close();
    this.db = null;
  }

  private lock(): Database.Database {
    const file = path.join(this.dataDir, 'serve.lock');
    // 0600 like every file in DATA_DIR (SQLite would create it 0644).
    preparePrivateDatabaseFile(file);
    const db = new Database(file, { timeout: 0 });
    try {
      db.pragma('locking_mode = EXCLUSIVE');
      db.exec('BEGIN EXCLUSIVE');
      return db;
    } catch (error) {
      db.close();
      if ((error as { code?: string }).code !== 'SQLITE_BUSY') throw error;
      throw new DataDirInUseError(
        `DATA_DIR ${this.dataDir} is in use by another custodia serve: the embedded mode runs one process per DATA_DIR ` +
          '(run several on PostgreSQL, see README, Distributed setup)',
      );
    }
  }
}
