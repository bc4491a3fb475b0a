import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, promises as fs, readSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { errnoCode } from '../errors';
import { ObjectInfo, ObjectNotFoundError, ObjectStore } from './object-store';

const TEMP_MARKER = '.tmp-';
/** Ranges up to this size are read with synchronous calls (see getRange). */
const SYNC_READ_BYTES = 1024 * 1024;
/** Pack files kept open for range reads. */
const MAX_RANGE_FILES = 8;

/**
 * Objects as files under a folder. `put` writes a temporary sibling, fsyncs it, renames it into
 * place and fsyncs the folder, so an object is either complete and durable or absent.
 */
export class FsObjectStore implements ObjectStore {
  /** Open descriptors for range reads, least recently used first (see openForRanges). */
  private readonly rangeFiles = new Map<string, { fd: number; inode: number }>();

  constructor(readonly root: string) {}

  get location(): string {
    return this.root;
  }

  async put(key: string, data: Buffer): Promise<void> {
    const file = this.pathOf(key);
    const dir = path.dirname(file);
    // Objects are 0600 and their folders 0700: the repository is its owner's alone.
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const temp = `${file}${TEMP_MARKER}${randomBytes(6).toString('hex')}`;
    const handle = await fs.open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, file);
    await syncDirectory(dir);
  }

  async get(key: string): Promise<Buffer> {
    try {
      return await fs.readFile(this.pathOf(key));
    } catch (error) {
      throw notFoundOr(error, key);
    }
  }

  async getRange(key: string, offset: number, length: number): Promise<Buffer> {
    // Small ranges (most blobs of a tree of small files) are read synchronously: three
    // thread-pool round trips per blob cost more than reading it, and dominated restores.
    if (length <= SYNC_READ_BYTES) return this.getRangeSync(key, offset, length);
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(this.pathOf(key), 'r');
    } catch (error) {
      throw notFoundOr(error, key);
    }
    try {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, offset);
      return buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  }

  private getRangeSync(key: string, offset: number, length: number): Buffer {
    const fd = this.openForRanges(key);
    const buffer = Buffer.alloc(length);
    let filled = 0;
    for (;;) {
      const n = readSync(fd, buffer, filled, length - filled, offset + filled);
      filled += n;
      if (n === 0 || filled === length) return buffer.subarray(0, filled);
    }
  }

  /**
   * A descriptor of the object for range reads, kept open for the next blob of the same pack
   * (opening a file costs more than reading a blob from it). Before each use the path is looked
   * up again, so a pack deleted or replaced since is noticed (PACK_MISSING) instead of being read
   * from a stale descriptor.
   */
  private openForRanges(key: string): number {
    const file = this.pathOf(key);
    const cached = this.rangeFiles.get(file);
    let inode: number;
    try {
      inode = statSync(file).ino;
    } catch (error) {
      if (cached) this.forget(file, cached.fd);
      throw notFoundOr(error, key);
    }
    if (cached && cached.inode === inode) {
      // Most recently used last, so the first entry is the one to close when full.
      this.rangeFiles.delete(file);
      this.rangeFiles.set(file, cached);
      return cached.fd;
    }
    if (cached) this.forget(file, cached.fd);
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch (error) {
      throw notFoundOr(error, key);
    }
    this.rangeFiles.set(file, { fd, inode: fstatSync(fd).ino });
    if (this.rangeFiles.size > MAX_RANGE_FILES) {
      const [oldest, entry] = this.rangeFiles.entries().next().value as [string, { fd: number }];
      this.forget(oldest, entry.fd);
    }
    return fd;
  }

  private forget(file: string, fd: number): void {
    this.rangeFiles.delete(file);
    closeSync(fd);
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    try {
      const stats = await fs.stat(this.pathOf(key));
      return { key, size: stats.size };
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return null;
      throw error;
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const found: ObjectInfo[] = [];
    await this.walk(prefix.replace(/\/$/, ''), (key, size) => {
      if (!key.includes(TEMP_MARKER)) found.push({ key, size });
    });
    return found.sort((a, b) => a.key.localeCompare(b.key));
  }

  async listLeftovers(): Promise<string[]> {
    const found: string[] = [];
    await this.walk('', (key) => {
      if (key.includes(TEMP_MARKER)) found.push(key);
    });
    return found;
  }

  async exists(): Promise<boolean> {
    try {
      return (await fs.stat(this.root)).isDirectory();
    } catch {
      return false;
    }
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.pathOf(key), { force: true });
  }

  private async walk(prefix: string, visit: (key: string, size: number) => void): Promise<void> {
    const start = prefix ? this.pathOf(prefix) : this.root;
    let entries;
    try {
      entries = await fs.readdir(start, { withFileTypes: true, recursive: true });
    } catch (error) {
      if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') return;
      throw error;
    }
    for (const entry of entries) {
      if (!entry.isFile()) continue;
      const full = path.join(entry.parentPath, entry.name);
      const key = path.relative(this.root, full).split(path.sep).join('/');
      const stats = await fs.stat(full).catch(() => null);
      if (stats) visit(key, stats.size);
    }
  }

  private pathOf(key: string): string {
    if (key.split('/').some((part) => part === '..' || part === '')) {
      throw new Error(`invalid object key ${key}`);
    }
    return path.join(this.root, ...key.split('/'));
  }
}

function notFoundOr(error: unknown, key: string): unknown {
  return errnoCode(error) === 'ENOENT' ? new ObjectNotFoundError(key) : error;
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
