/**
 * Where a repository's objects live. Objects are write-once: `put` either stores the whole
 * object durably under its key or leaves nothing visible under that key, so a crash can leave
 * garbage but never a half-written object. The filesystem store is the embedded default; an
 * S3 store implements the same port for the distributed mode.
 */
export interface ObjectInfo {
  key: string;
  size: number;
}

export interface ObjectStore {
  /** A human-readable location for messages (a folder or a bucket URL). */
  readonly location: string;
  put(key: string, data: Buffer): Promise<void>;
  /** Throws ObjectNotFoundError when the key does not exist. */
  get(key: string): Promise<Buffer>;
  getRange(key: string, offset: number, length: number): Promise<Buffer>;
  /** Returns null when the key does not exist. */
  stat(key: string): Promise<ObjectInfo | null>;
  /**
   * Every object whose key starts with `prefix`, never an incomplete one under its own key. A
   * server may list an upload in progress under another name: callers in the engine go through
   * listRepositoryObjects, which keeps only the names the engine writes.
   */
  list(prefix: string): Promise<ObjectInfo[]>;
  delete(key: string): Promise<void>;
  /** Whether the location itself (folder, bucket) exists. */
  exists(): Promise<boolean>;
  /** Temporary leftovers of interrupted writes, for `check` to report. */
  listLeftovers(): Promise<string[]>;
}

export class ObjectNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`object ${key} not found`);
    this.name = 'ObjectNotFoundError';
  }
}
