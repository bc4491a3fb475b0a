import { availableParallelism } from 'node:os';
import { compressBlob } from '../compression';
import { seal } from '../crypto/aead';
import { ScopeKeys } from '../crypto/scope-keys';
import { AAD, BlobLocation, BlobType, Keys, PackRecord } from '../repository/format';
import { assemblePack } from '../repository/pack-file';
import { Repository } from '../repository/repository';

export interface SaverStatistics {
  newBytes: number;
  storedBytes: number;
  newChunks: number;
}

export interface BlobSaverOptions {
  /** A pack is sealed and stored once it holds this many bytes. */
  packTargetSize?: number;
  /** Index files are written every this many packs, so an interrupted backup's work is reused. */
  packsPerIndexFile?: number;
}

export const DEFAULT_PACK_TARGET = 16 * 1024 * 1024;
const DEFAULT_PACKS_PER_INDEX = 32;
const MAX_PACK_UPLOADS = 2;

/**
 * Deduplicates, compresses, encrypts and packs blobs. Compression runs on libuv's thread pool
 * while the caller goes on chunking, with a bounded number of blobs in flight so memory stays
 * flat. Packs are written before the index files that name them, and index files before any
 * snapshot that uses them: a crash leaves unreferenced packs, never a dangling reference.
 */
export class BlobSaver {
  readonly statistics: SaverStatistics = { newBytes: 0, storedBytes: 0, newChunks: 0 };
  private readonly pending = new Set<string>();
  private readonly maxInFlight = Math.max(2, availableParallelism() * 2);
  private inFlight = 0;
  private readonly slotWaiters: (() => void)[] = [];
  private readonly work = new Set<Promise<void>>();
  private openPack: { location: Omit<BlobLocation, 'offset'>; sealed: Buffer }[] = [];
  private openPackBytes = 0;
  private readonly uploads = new Set<Promise<void>>();
  private unindexed: PackRecord[] = [];
  private failure: unknown = null;
  private readonly packTargetSize: number;
  private readonly packsPerIndexFile: number;

  constructor(
    private readonly repository: Repository,
    options: BlobSaverOptions = {},
  ) {
    this.packTargetSize = options.packTargetSize ?? DEFAULT_PACK_TARGET;
    this.packsPerIndexFile = options.packsPerIndexFile ?? DEFAULT_PACKS_PER_INDEX;
  }

  /** Whether a blob is stored already or being stored by this saver. */
  isKnown(id: string): boolean {
    return this.pending.has(id) || this.repository.index.has(id);
  }

  /**
   * Stores `data` unless a blob with the same content is known; returns its id. The scope's keys
   * encrypt the blob and key its id: the repository's by default, a data subject's for their
   * data (whose ids therefore never collide with another scope's, so nothing is shared).
   */
  async save(type: BlobType, data: Buffer, scope: ScopeKeys = this.repository.master.scopeKeys()): Promise<{ id: string; isNew: boolean }> {
    this.throwIfFailed();
    const id = scope.blobId(data);
    if (this.isKnown(id)) return { id, isNew: false };
    this.pending.add(id);
    await this.acquireSlot();
    const task = this.encodeAndPack(type, scope, id, data)
      .catch((error: unknown) => {
        this.failure ??= error;
      })
      .finally(() => {
        this.work.delete(task);
        this.releaseSlot();
      });
    this.work.add(task);
    return { id, isNew: true };
  }

  /** Waits for every blob, stores the last pack and writes the remaining index entries. */
  async finish(): Promise<void> {
    while (this.work.size > 0) await Promise.all([...this.work]);
    this.throwIfFailed();
    await this.sealOpenPack();
    while (this.uploads.size > 0) await Promise.all([...this.uploads]);
    this.throwIfFailed();
    await this.writeIndex();
  }

  /**
   * For a backup that stops early: stores and indexes what was already encoded (at most one more
   * pack), so the next backup deduplicates against it, and lets nothing run on after the caller
   * returns. Errors are not raised: the caller is already failing with its own.
   */
  async settle(): Promise<void> {
    while (this.work.size > 0) await Promise.all([...this.work]);
    if (this.failure === null) await this.sealOpenPack().catch(() => undefined);
    while (this.uploads.size > 0) await Promise.all([...this.uploads]);
    // Even after a failure: the packs already stored are whole, and indexing them lets the next
    // backup reuse them. If this write fails too, they stay unindexed (prune removes them).
    await this.writeIndex().catch(() => undefined);
  }

  private async encodeAndPack(type: BlobType, scope: ScopeKeys, id: string, data: Buffer): Promise<void> {
    const { codec, payload } = await compressBlob(data);
    const sealed = seal(scope.contentKey, payload, AAD.blob(type, scope.scope, id));
    this.openPack.push({ location: { id, type, scope: scope.scope, length: sealed.length, rawLength: data.length, codec }, sealed });
    this.openPackBytes += sealed.length;
    this.statistics.newBytes += data.length;
    this.statistics.newChunks += type === 'data' ? 1 : 0;
    if (this.openPackBytes >= this.packTargetSize) await this.sealOpenPack();
  }

  private async sealOpenPack(): Promise<void> {
    if (this.openPack.length === 0) return;
    const blobs = this.openPack;
    this.openPack = [];
    this.openPackBytes = 0;
    const pack = await assemblePack(this.repository.master, blobs);
    while (this.uploads.size >= MAX_PACK_UPLOADS) await Promise.race([...this.uploads]);
    const upload = this.repository.store
      .put(Keys.pack(pack.id), pack.bytes)
      .then(async () => {
        const record: PackRecord = { id: pack.id, size: pack.bytes.length, blobs: pack.locations };
        // Not in the repository's index yet: only once an index file names the pack (writeIndex).
        this.statistics.storedBytes += pack.bytes.length;
        this.unindexed.push(record);
        if (this.unindexed.length >= this.packsPerIndexFile) await this.writeIndex();
      })
      .catch((error: unknown) => {
        this.failure ??= error;
      })
      .finally(() => this.uploads.delete(upload));
    this.uploads.add(upload);
  }

  /**
   * Writes an index file for the packs stored since the last one, and only then adds them to the
   * repository's in-memory index. Until then this saver's `pending` set is what deduplicates
   * against them. Were they added first, a failed write (a full disk) would leave a long-lived
   * repository (a worker's) believing blobs stored that no index file names, and the next backup
   * would write a snapshot pointing at them: readable in that process, "in no index" in any other.
   */
  private async writeIndex(): Promise<void> {
    if (this.unindexed.length === 0) return;
    const records = this.unindexed;
    this.unindexed = [];
    try {
      await this.repository.writeIndexFile(records);
    } catch (error) {
      this.unindexed = [...records, ...this.unindexed];
      throw error;
    }
    for (const record of records) this.repository.index.addPack(record);
  }

  private acquireSlot(): Promise<void> {
    if (this.inFlight < this.maxInFlight) {
      this.inFlight++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.slotWaiters.push(resolve));
  }

  private releaseSlot(): void {
    const next = this.slotWaiters.shift();
    if (next) next();
    else this.inFlight--;
  }

  private throwIfFailed(): void {
    if (this.failure !== null) throw this.failure;
  }
}
