import { randomBytes } from 'node:crypto';
import { Chunker, ChunkerParams, DEFAULT_CHUNKER_PARAMS } from '../chunker';
import { decompressBlob } from '../compression';
import { DecryptionError, open, seal } from '../crypto/aead';
import { MasterKey } from '../crypto/master-key';
import { EngineError, isEngineError } from '../errors';
import { ObjectNotFoundError, ObjectStore } from '../storage/object-store';
import { SubjectKeyRing } from '../subjects/key-ring';
import { KeyVault, RepositoryKeyVault } from '../subjects/key-vault';
import { BlobIndex } from './blob-index';
import { AAD, FORMAT_VERSION, IndexFile, Keys, KeySlot, PackRecord, REPO_SCOPE, RepositoryConfig, Snapshot, Tree } from './format';
import { createKeySlot, unlockMasterKey } from './key-slots';
import { lockRepository, LockKind, LockOptions, RepositoryLock, withRepositoryLock } from './locks';
import { listRepositoryObjects } from './object-names';
import { sha256Hex } from './pack-file';

export interface InitOptions {
  kdfCost?: { N: number; r: number; p: number };
  chunker?: ChunkerParams;
}

export interface StoredSnapshot {
  id: string;
  snapshot: Snapshot;
}

/**
 * An unlocked repository: configuration, master key, and the index of every blob. The backup,
 * restore and check modules build on it; it knows nothing about files on the local disk.
 */
export class Repository {
  readonly index = new BlobIndex();
  readonly chunker: Chunker;
  private readonly treeCache = new Map<string, Tree>();
  private readonly loadedIndexFiles = new Set<string>();

  /** The index files the in-memory index was built from (and those this handle wrote). */
  get indexFilesLoaded(): string[] {
    return [...this.loadedIndexFiles];
  }
  /** When a lock counts as stale and how often a held one is refreshed (tests shorten them). */
  lockOptions: LockOptions = {};
  /** Snapshots are write-once, so a decrypted one never goes stale. */
  private readonly snapshotCache = new Map<string, Snapshot>();
  private vault: KeyVault;

  private constructor(
    readonly store: ObjectStore,
    readonly config: RepositoryConfig,
    readonly master: MasterKey,
    readonly keySlot: KeySlot,
  ) {
    this.chunker = new Chunker(config.chunker, master.chunkerSeed);
    this.vault = new RepositoryKeyVault(store, master);
  }

  /** Where the per-data-subject keys are kept: in the repository itself unless replaced. */
  get keyVault(): KeyVault {
    return this.vault;
  }

  /** Keeps subject keys in another vault (e.g. a database) instead of the repository. */
  useKeyVault(vault: KeyVault): void {
    this.vault = vault;
  }

  /** A fresh set of subject keys for one operation (see SubjectKeyRing). */
  subjectKeys(): SubjectKeyRing {
    return new SubjectKeyRing(this.vault, this.master);
  }

  static async init(store: ObjectStore, passphrase: string, options: InitOptions = {}): Promise<Repository> {
    if (await store.stat(Keys.config)) {
      throw new EngineError('REPO_ALREADY_EXISTS', `a repository already exists at ${store.location}`);
    }
    const master = MasterKey.generate();
    const config: RepositoryConfig = {
      format: 'custodia-repository',
      version: FORMAT_VERSION,
      id: randomBytes(16).toString('hex'),
      createdAt: new Date().toISOString(),
      chunker: options.chunker ?? DEFAULT_CHUNKER_PARAMS,
    };
    // The key slot goes first: a config without a key would be an unopenable repository.
    const slot = await createKeySlot(store, master, passphrase, options.kdfCost);
    await store.put(Keys.config, Buffer.from(JSON.stringify(config, null, 2)));
    return new Repository(store, config, master, slot);
  }

  /**
   * Runs an operation under a repository lock (locks.ts): shared for whatever reads or adds
   * data, exclusive for prune. The operation reloads the index once it holds the lock.
   */
  whileLocked<T>(kind: LockKind, work: () => Promise<T>): Promise<T> {
    // Only shared locks wait: an exclusive one waiting could hold up every backup behind it.
    const options = kind === 'exclusive' ? { ...this.lockOptions, waitMs: 0 } : this.lockOptions;
    return withRepositoryLock(this.store, this.master.lockKey, kind, work, options);
  }

  /** Takes a lock and holds it until released (for a caller that spans several operations). */
  lock(kind: LockKind, options: LockOptions = {}): Promise<RepositoryLock> {
    return lockRepository(this.store, this.master.lockKey, kind, options);
  }

  /**
   * Runs an operation that reads or adds data: under a shared lock, with the index reloaded
   * once the lock is held (a prune or rebuild may have replaced it since it was last loaded).
   */
  withCurrentIndex<T>(work: () => Promise<T>): Promise<T> {
    return this.whileLocked('shared', async () => {
      await this.loadIndex();
      return work();
    });
  }

  /** Opens and unlocks the repository and loads its index. */
  static async open(store: ObjectStore, passphrase: string, options: { loadIndex?: boolean } = {}): Promise<Repository> {
    const config = await readConfig(store);
    const { master, slot } = await unlockMasterKey(store, passphrase);
    const repository = new Repository(store, config, master, slot);
    if (options.loadIndex !== false) await repository.loadIndex();
    return repository;
  }

  /**
   * Reads every index file. A damaged one stops the operation with its name, unless the caller
   * (check, index rebuild) passes `onDamaged` to collect it instead. Files loaded before are
   * skipped, so a long-lived repository (a worker's) calls this to pick up others' new packs;
   * every operation calls it again once it holds its repository lock.
   */
  async loadIndex(onDamaged?: (key: string, reason: string) => void): Promise<string[]> {
    const keys: string[] = [];
    const listed = await listRepositoryObjects(this.store, 'index/');
    const present = new Set(listed.map((object) => object.key));
    if ([...this.loadedIndexFiles].some((key) => !present.has(key))) {
      // An index file loaded earlier is gone: prune or a rebuild replaced the index, and the old
      // entries may name packs that no longer exist. Trusting them could make a backup skip a
      // blob as stored when it is not, so start again from what is there now.
      this.index.clear();
      this.loadedIndexFiles.clear();
    }
    for (const object of listed) {
      if (this.loadedIndexFiles.has(object.key)) continue;
      const sealed = await this.store.get(object.key).catch((error: unknown) => {
        // Removed since the listing by an index rebuild, which wrote its replacement first.
        if (error instanceof ObjectNotFoundError) return null;
        throw error;
      });
      if (!sealed) continue;
      try {
        const file = JSON.parse(this.openMetadata(sealed, AAD.index)) as IndexFile;
        for (const pack of file.packs) this.index.addPack(pack);
        this.loadedIndexFiles.add(object.key);
        keys.push(object.key);
      } catch (error) {
        const reason = error instanceof DecryptionError ? 'truncated or modified' : describe(error);
        if (!onDamaged) {
          throw new EngineError(
            'INDEX_DAMAGED',
            `index file ${object.key} in ${this.store.location} is damaged (${reason}); run "custodia index rebuild" to rebuild the index from the packs`,
          );
        }
        onDamaged(object.key, reason);
      }
    }
    return keys;
  }

  /**
   * Writes a whole new index (prune, index rebuild) as files of at most 256 packs each, so each
   * file's size stays bounded, and makes the in-memory index exactly these records, with no reload.
   * Returns the new files' keys: deleting the old files is the caller's step (prune first checks
   * the snapshots again).
   */
  async writeWholeIndex(records: PackRecord[]): Promise<Set<string>> {
    const written = new Set<string>();
    for (let i = 0; i < records.length; i += 256) written.add(Keys.index(await this.writeIndexFile(records.slice(i, i + 256))));
    this.index.clear();
    for (const record of records) this.index.addPack(record);
    this.loadedIndexFiles.clear();
    for (const key of written) this.loadedIndexFiles.add(key);
    return written;
  }

  async writeIndexFile(packs: PackRecord[]): Promise<string> {
    const file: IndexFile = { version: FORMAT_VERSION, packs };
    const sealed = seal(this.master.metadataKey, Buffer.from(JSON.stringify(file)), AAD.index);
    const id = sha256Hex(sealed);
    await this.store.put(Keys.index(id), sealed);
    this.loadedIndexFiles.add(Keys.index(id));
    return id;
  }

  /**
   * Reads, authenticates, decompresses and hash-checks one blob. A blob of a data subject needs
   * the subject's key: from `keys` (the operation's ring), or from the vault when none is given;
   * without a key it fails with SUBJECT_ERASED or SUBJECT_KEY_MISSING.
   */
  async readBlob(id: string, keys?: SubjectKeyRing): Promise<Buffer> {
    const entry = this.index.lookup(id);
    if (!entry) throw new EngineError('BLOB_NOT_FOUND', `blob ${id} is not in the index of ${this.store.location}`);
    const { packId, location } = entry;
    let sealed: Buffer;
    try {
      sealed = await this.store.getRange(Keys.pack(packId), location.offset, location.length);
    } catch (error) {
      if (error instanceof ObjectNotFoundError) {
        throw new EngineError('PACK_MISSING', `pack ${Keys.pack(packId)} is missing from ${this.store.location}`);
      }
      throw error;
    }
    return this.decodeBlob(packId, location, sealed, keys);
  }

  async decodeBlob(packId: string, location: PackRecord['blobs'][number], sealed: Buffer, keys?: SubjectKeyRing): Promise<Buffer> {
    const damaged = (why: string) =>
      new EngineError('BLOB_DAMAGED', `blob ${location.id} in pack ${Keys.pack(packId)} is damaged (${why})`);
    const scope =
      location.scope === REPO_SCOPE ? this.master.scopeKeys(REPO_SCOPE) : await (keys ?? this.subjectKeys()).forScope(location.scope);
    let plaintext: Buffer;
    try {
      const payload = open(scope.contentKey, sealed, AAD.blob(location.type, location.scope, location.id));
      plaintext = await decompressBlob(location.codec, payload);
    } catch (error) {
      throw damaged(error instanceof DecryptionError ? 'authentication failed' : describe(error));
    }
    if (plaintext.length !== location.rawLength || scope.blobId(plaintext) !== location.id) {
      throw damaged('content hash mismatch');
    }
    return plaintext;
  }

  /**
   * Reads a tree blob. Trees of the repository scope are cached here; a data subject's trees
   * only in the operation's key ring, so that no decrypted subject data outlives the operation.
   */
  async readTree(id: string, keys?: SubjectKeyRing): Promise<Tree> {
    const inRepoScope = (this.index.lookup(id)?.location.scope ?? REPO_SCOPE) === REPO_SCOPE;
    const cache = inRepoScope ? this.treeCache : keys?.trees;
    const cached = cache?.get(id);
    if (cached) return cached;
    const tree = JSON.parse((await this.readBlob(id, keys)).toString('utf8')) as Tree;
    if (!tree || !Array.isArray(tree.entries)) {
      throw new EngineError('BLOB_DAMAGED', `tree ${id} is not a valid tree`);
    }
    if (cache) {
      if (cache.size > 10_000) cache.clear();
      cache.set(id, tree);
    }
    return tree;
  }

  async saveSnapshot(snapshot: Snapshot): Promise<string> {
    const sealed = seal(this.master.metadataKey, Buffer.from(JSON.stringify(snapshot)), AAD.snapshot);
    const id = sha256Hex(sealed);
    await this.store.put(Keys.snapshot(id), sealed);
    return id;
  }

  async loadSnapshot(id: string): Promise<Snapshot> {
    const cached = this.snapshotCache.get(id);
    if (cached) return cached;
    let sealed: Buffer;
    try {
      sealed = await this.store.get(Keys.snapshot(id));
    } catch (error) {
      if (error instanceof ObjectNotFoundError) throw new EngineError('SNAPSHOT_NOT_FOUND', `no snapshot ${id}`);
      throw error;
    }
    try {
      const snapshot = JSON.parse(this.openMetadata(sealed, AAD.snapshot)) as Snapshot;
      this.snapshotCache.set(id, snapshot);
      return snapshot;
    } catch {
      throw new EngineError('SNAPSHOT_DAMAGED', `snapshot ${Keys.snapshot(id)} is damaged (truncated or modified)`);
    }
  }

  /**
   * All snapshots, oldest first. Damaged ones are reported through `onDamaged`, or thrown. A
   * snapshot listed and then not found was removed meanwhile by another process and is left
   * out, unless `missingIsDamage` (under prune's exclusive lock nothing can remove one, so a
   * read that fails must stop prune rather than make a snapshot's data look unused).
   */
  async listSnapshots(
    onDamaged?: (id: string, error: EngineError) => void,
    options: { missingIsDamage?: boolean } = {},
  ): Promise<StoredSnapshot[]> {
    const found: StoredSnapshot[] = [];
    for (const object of await listRepositoryObjects(this.store, 'snapshots/')) {
      const id = object.key.slice('snapshots/'.length);
      try {
        found.push({ id, snapshot: await this.loadSnapshot(id) });
      } catch (error) {
        const vanished = isEngineError(error, 'SNAPSHOT_NOT_FOUND');
        if (vanished && !options.missingIsDamage) continue;
        if (!(error instanceof EngineError) || !onDamaged) throw error;
        onDamaged(id, error);
      }
    }
    return found.sort((a, b) => a.snapshot.time.localeCompare(b.snapshot.time) || a.id.localeCompare(b.id));
  }

  /**
   * Resolves "latest", a full id or a unique prefix of at least 4 characters. A damaged
   * snapshot only fails a reference to itself: one bad object must not stop the restore of
   * every other snapshot ("latest" is then the newest readable one; check reports the damage).
   */
  async resolveSnapshot(reference: string): Promise<StoredSnapshot> {
    const damaged: EngineError[] = [];
    const all = await this.listSnapshots((id, error) => {
      if (reference.length >= 4 && id.startsWith(reference)) damaged.push(error);
    });
    if (reference === 'latest') {
      const latest = all.at(-1);
      if (!latest) throw new EngineError('SNAPSHOT_NOT_FOUND', `repository ${this.store.location} has no snapshots`);
      return latest;
    }
    const matches = reference.length >= 4 ? all.filter((entry) => entry.id.startsWith(reference)) : [];
    const count = matches.length + damaged.length;
    if (count === 1 && damaged.length === 1) throw damaged[0];
    if (count !== 1) {
      const why = count === 0 ? 'no snapshot matches' : 'several snapshots match';
      throw new EngineError('SNAPSHOT_NOT_FOUND', `${why} "${reference}"`);
    }
    return matches[0];
  }

  private openMetadata(sealed: Buffer, aad: string): string {
    return open(this.master.metadataKey, sealed, aad).toString('utf8');
  }
}

async function readConfig(store: ObjectStore): Promise<RepositoryConfig> {
  let raw: Buffer;
  try {
    raw = await store.get(Keys.config);
  } catch (error) {
    if (!(error instanceof ObjectNotFoundError)) throw error;
    if (!(await store.exists())) throw new EngineError('REPO_NOT_FOUND', `repository ${store.location} does not exist`);
    throw new EngineError(
      'REPO_NOT_INITIALISED',
      `${store.location} is not a Custodia repository (no config); run "custodia repo init" first`,
    );
  }
  let config: RepositoryConfig;
  try {
    config = JSON.parse(raw.toString('utf8')) as RepositoryConfig;
  } catch {
    throw new EngineError('REPO_DAMAGED', `config of repository ${store.location} is not valid JSON`);
  }
  if (config.format !== 'custodia-repository') {
    throw new EngineError('REPO_DAMAGED', `${store.location} does not hold a Custodia repository config`);
  }
  if (config.version > FORMAT_VERSION) {
    throw new EngineError('REPO_DAMAGED', `repository format ${config.version} is newer than this Custodia supports (${FORMAT_VERSION})`);
  }
  return config;
}

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
