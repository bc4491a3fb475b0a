import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { open, seal } from '../crypto/aead';
import { EngineError } from '../errors';
import { ObjectNotFoundError, ObjectStore } from '../storage/object-store';
import { AAD, Keys } from './format';
import { listRepositoryObjects } from './object-names';

/**
 * Repository locks, as objects `locks/<id>`: every operation that reads or adds data holds a
 * shared lock; prune, which deletes packs, holds an exclusive one. Without them a backup could
 * deduplicate against a blob in a pack that prune is about to delete, and finish a snapshot
 * that points at missing data.
 *
 * Taking a lock writes it first and only then looks at the others, so of two processes that
 * race, at least one sees the other and steps back (an object store offers no compare-and-set).
 * A lock not refreshed for `staleAfterMs` belongs to a process that died: it is ignored, and
 * removed by the next exclusive lock.
 *
 * A lock names a host and a process, which is nobody's business who reads the storage: it is
 * encrypted under the repository's lock key (`key` below), like every other object.
 */
export type LockKind = 'shared' | 'exclusive';

interface LockFile {
  kind: LockKind;
  hostname: string;
  pid: number;
  createdAt: string;
  refreshedAt: string;
}

export interface LockOptions {
  /** A lock older than this without a refresh is stale. Default 30 minutes. */
  staleAfterMs?: number;
  /** How often a held lock is rewritten. Default 5 minutes. */
  refreshIntervalMs?: number;
  /**
   * How long to keep trying while another process holds the repository (default 0: fail at
   * once with REPO_LOCKED). Workers wait, so a backup that meets a prune runs after it.
   */
  waitMs?: number;
  /**
   * Take no lock, for reading a repository this process may not write to (read-only storage or
   * credentials): the caller accepts that a prune running meanwhile can make the read fail.
   */
  none?: boolean;
}

const DEFAULT_STALE_AFTER_MS = 30 * 60_000;
const DEFAULT_REFRESH_INTERVAL_MS = 5 * 60_000;
const LOCK_POLL_MS = 1_000;

export class RepositoryLock {
  private readonly timer: NodeJS.Timeout;
  private refreshing: Promise<void> = Promise.resolve();
  private released = false;

  constructor(
    private readonly store: ObjectStore,
    private readonly key: Buffer,
    readonly id: string,
    private readonly file: LockFile,
    refreshIntervalMs: number,
  ) {
    this.timer = setInterval(() => {
      this.refreshing = this.write().catch(() => undefined);
    }, refreshIntervalMs);
    this.timer.unref();
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    clearInterval(this.timer);
    await this.refreshing;
    await this.store.delete(Keys.lock(this.id)).catch(() => undefined);
  }

  private async write(): Promise<void> {
    if (this.released) return;
    await this.store.put(Keys.lock(this.id), encode(this.key, this.id, { ...this.file, refreshedAt: new Date().toISOString() }));
  }
}

export async function lockRepository(store: ObjectStore, key: Buffer, kind: LockKind, options: LockOptions = {}): Promise<RepositoryLock> {
  const deadline = Date.now() + (options.waitMs ?? 0);
  for (;;) {
    try {
      return await tryLock(store, key, kind, options);
    } catch (error) {
      const busy = error instanceof EngineError && error.code === 'REPO_LOCKED';
      if (!busy || Date.now() + LOCK_POLL_MS > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
    }
  }
}

async function tryLock(store: ObjectStore, key: Buffer, kind: LockKind, options: LockOptions): Promise<RepositoryLock> {
  const staleAfterMs = options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
  const now = new Date().toISOString();
  const file: LockFile = { kind, hostname: hostname(), pid: process.pid, createdAt: now, refreshedAt: now };
  const id = randomBytes(16).toString('hex');
  await store.put(Keys.lock(id), encode(key, id, file));
  const lock = new RepositoryLock(store, key, id, file, options.refreshIntervalMs ?? DEFAULT_REFRESH_INTERVAL_MS);
  try {
    for (const other of await readLocks(store, key, id)) {
      if (other.file === null) {
        throw new EngineError(
          'REPO_LOCKED',
          `lock ${Keys.lock(other.id)} in ${store.location} cannot be read; remove it if no Custodia process is using the repository`,
        );
      }
      if (isStale(other.file, staleAfterMs)) {
        if (kind === 'exclusive') await store.delete(Keys.lock(other.id)).catch(() => undefined);
        continue;
      }
      if (kind === 'exclusive' || other.file.kind === 'exclusive') {
        const holder = `${other.file.kind} lock of process ${other.file.pid} on ${other.file.hostname}, taken ${other.file.createdAt}`;
        throw new EngineError('REPO_LOCKED', `repository ${store.location} is in use (${holder}); try again once that operation has ended`);
      }
    }
  } catch (error) {
    await lock.release();
    throw error;
  }
  return lock;
}

/** Runs `work` under a lock of the given kind, released however `work` ends. */
export async function withRepositoryLock<T>(
  store: ObjectStore,
  key: Buffer,
  kind: LockKind,
  work: () => Promise<T>,
  options?: LockOptions,
): Promise<T> {
  if (options?.none && kind === 'shared') return work();
  const lock = await lockRepository(store, key, kind, options);
  try {
    return await work();
  } finally {
    await lock.release();
  }
}

/**
 * Stale: not refreshed in time, or taken on this host by a process that no longer exists
 * (a crash or a kill, noticed at once instead of after the timeout).
 */
function isStale(file: LockFile, staleAfterMs: number): boolean {
  if (Date.now() - Date.parse(file.refreshedAt) > staleAfterMs) return true;
  if (file.hostname !== hostname() || file.pid === process.pid) return false;
  try {
    process.kill(file.pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Removes the locks of processes that are gone (stale ones, and those that cannot be read). */
export async function removeStaleLocks(store: ObjectStore, key: Buffer, options: { staleAfterMs?: number } = {}): Promise<number> {
  let removed = 0;
  for (const lock of await readLocks(store, key, '')) {
    if (lock.file !== null && !isStale(lock.file, options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS)) continue;
    await store.delete(Keys.lock(lock.id));
    removed++;
  }
  return removed;
}

/** Removes every lock, unread (no key needed): only when the user knows no process is running. */
export async function removeAllLocks(store: ObjectStore): Promise<number> {
  const locks = await listRepositoryObjects(store, 'locks/');
  for (const object of locks) await store.delete(object.key);
  return locks.length;
}

async function readLocks(store: ObjectStore, key: Buffer, ownId: string): Promise<{ id: string; file: LockFile | null }[]> {
  const locks: { id: string; file: LockFile | null }[] = [];
  for (const object of await listRepositoryObjects(store, 'locks/')) {
    const id = object.key.slice('locks/'.length);
    if (id === ownId) continue;
    let raw: Buffer;
    try {
      raw = await store.get(object.key);
    } catch (error) {
      if (error instanceof ObjectNotFoundError) continue; // released meanwhile
      throw error;
    }
    locks.push({ id, file: decode(key, id, raw) });
  }
  return locks;
}

function encode(key: Buffer, id: string, file: LockFile): Buffer {
  return seal(key, Buffer.from(JSON.stringify(file)), AAD.lock(id));
}

/**
 * Null when unreadable: a lock is written whole, so that is tampering (or another repository's
 * key), and nobody can tell whose it is. A plaintext JSON lock is what Custodia wrote before locks
 * were encrypted: still honoured, so a process of that version keeps its lock during an upgrade.
 */
function decode(key: Buffer, id: string, raw: Buffer): LockFile | null {
  let text: string;
  try {
    text = open(key, raw, AAD.lock(id)).toString('utf8');
  } catch {
    text = raw.toString('utf8');
  }
  try {
    const file = JSON.parse(text) as Partial<LockFile>;
    if ((file.kind !== 'shared' && file.kind !== 'exclusive') || typeof file.refreshedAt !== 'string') return null;
    if (Number.isNaN(Date.parse(file.refreshedAt))) return null;
    return {
      kind: file.kind,
      hostname: String(file.hostname),
      pid: Number(file.pid),
      createdAt: String(file.createdAt),
      refreshedAt: file.refreshedAt,
    };
  } catch {
    return null;
  }
}
