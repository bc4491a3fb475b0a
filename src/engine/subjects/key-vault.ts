import { randomBytes } from 'node:crypto';
import { DecryptionError, open, seal } from '../crypto/aead';
import { MasterKey } from '../crypto/master-key';
import { EngineError } from '../errors';
import { AAD, Keys, SUBJECT_KEY_ID_PATTERN, SubjectTombstone } from '../repository/format';

/** Tombstones have kept their shape since the first format. */
const TOMBSTONE_VERSION = 1;
import { listRepositoryObjects } from '../repository/object-names';
import { ObjectNotFoundError, ObjectStore } from '../storage/object-store';
import { assertPseudonym } from './pseudonym';

/**
 * 'active': the key exists; 'shredded': it was destroyed on purpose (erasure); 'unknown': it
 * never existed, or it is gone without a record of its destruction (lost: that is damage).
 */
export type SubjectKeyStatus = 'active' | 'shredded' | 'unknown';

/** One key of one data subject: 32 random bytes. */
export interface SubjectKeyMaterial {
  pseudonym: string;
  keyId: string;
  key: Buffer;
  /** Set by getOrCreate when this call created the key (a key operation worth recording). */
  created?: boolean;
}

export interface SubjectKeyInfo {
  pseudonym: string;
  keyId: string;
  status: 'active' | 'shredded';
  /** When the key was shredded. */
  shreddedAt?: string;
  /** The key object is still present although its tombstone exists: an interrupted shred. */
  shredIncomplete?: boolean;
}

export interface ShredResult {
  /** Keys destroyed by this call; 0 when the subject was shredded before or never had a key. */
  keysShredded: number;
  status: SubjectKeyStatus;
}

/**
 * The port for per-data-subject keys. A subject has one key (exceptionally several, when two
 * backups created one at the same time); each key has an id, recorded with everything sealed
 * under it. Shredding destroys every key of the subject irreversibly and records that it did,
 * so that readers can tell erased data (expected) from a lost key (damage). A subject seen
 * again after its erasure gets a new key; data under the shredded keys stays unreadable.
 *
 * The embedded adapter keeps the keys in the repository (RepositoryKeyVault); another adapter
 * (e.g. PostgreSQL, or a KMS) only needs to keep these promises.
 */
export interface KeyVault {
  /** The subject's active key, created when it has none (never, or only shredded ones). */
  getOrCreate(pseudonym: string): Promise<SubjectKeyMaterial>;
  /**
   * The key with this id, or (without an id) the subject's active key; null when it was
   * shredded or never existed (tell which with `status`).
   */
  get(pseudonym: string, keyId?: string): Promise<SubjectKeyMaterial | null>;
  /** With a key id: that key's status. Without: 'active' if any key is, else 'shredded' if any was. */
  status(pseudonym: string, keyId?: string): Promise<SubjectKeyStatus>;
  /** Destroys every key of the subject. Idempotent and irreversible. */
  shred(pseudonym: string): Promise<ShredResult>;
  /** Every key the vault knows of, active and shredded. */
  list(): Promise<SubjectKeyInfo[]>;
}

/**
 * The embedded key vault: each subject key is a write-once object in the repository's store,
 * `subject-keys/<pseudonym>/<key id>`, holding the 32-byte key sealed under a key derived from
 * the master key (HKDF purpose `custodia/subject-key-wrap`) with associated data naming the
 * pseudonym and key id, so a key object cannot be passed off as another subject's.
 *
 * Shredding first writes the tombstone `subject-tombstones/<pseudonym>/<key id>` (plaintext
 * JSON: pseudonym, key id, time), then deletes the key object. Once the tombstone exists the key
 * counts as shredded, even if a crash left the key object behind (the next shred removes it,
 * and check warns about it). The key is then gone from the repository; copies of it can only
 * survive where the store keeps deleted objects (S3 versioning, snapshots of the disk).
 */
export class RepositoryKeyVault implements KeyVault {
  constructor(
    private readonly store: ObjectStore,
    private readonly master: MasterKey,
  ) {}

  async getOrCreate(pseudonym: string): Promise<SubjectKeyMaterial> {
    const existing = await this.get(pseudonym);
    if (existing) return existing;
    const keyId = randomBytes(16).toString('hex');
    const key = randomBytes(32);
    await this.store.put(Keys.subjectKey(pseudonym, keyId), seal(this.master.subjectKeyWrapKey, key, AAD.subjectKey(pseudonym, keyId)));
    return { pseudonym, keyId, key, created: true };
  }

  async get(pseudonym: string, keyId?: string): Promise<SubjectKeyMaterial | null> {
    assertPseudonym(pseudonym);
    if (keyId !== undefined) {
      assertKeyId(keyId);
      if (await this.store.stat(Keys.subjectTombstone(pseudonym, keyId))) return null;
      return this.unwrap(pseudonym, keyId);
    }
    // Of several active keys (two backups created one at once), every one reads; use the first.
    const [first] = await this.activeKeyIds(pseudonym);
    return first === undefined ? null : this.unwrap(pseudonym, first);
  }

  async status(pseudonym: string, keyId?: string): Promise<SubjectKeyStatus> {
    assertPseudonym(pseudonym);
    if (keyId !== undefined) {
      assertKeyId(keyId);
      if (await this.store.stat(Keys.subjectTombstone(pseudonym, keyId))) return 'shredded';
      return (await this.store.stat(Keys.subjectKey(pseudonym, keyId))) ? 'active' : 'unknown';
    }
    if ((await this.activeKeyIds(pseudonym)).length > 0) return 'active';
    return (await this.tombstonedKeyIds(pseudonym)).size > 0 ? 'shredded' : 'unknown';
  }

  async shred(pseudonym: string): Promise<ShredResult> {
    assertPseudonym(pseudonym);
    const tombstoned = await this.tombstonedKeyIds(pseudonym);
    let keysShredded = 0;
    for (const keyId of await this.keyIds(pseudonym)) {
      if (!tombstoned.has(keyId)) {
        const tombstone: SubjectTombstone = { version: TOMBSTONE_VERSION, pseudonym, keyId, shreddedAt: new Date().toISOString() };
        // The tombstone first: from here on the key is shredded, whatever happens next.
        await this.store.put(Keys.subjectTombstone(pseudonym, keyId), Buffer.from(JSON.stringify(tombstone)));
        keysShredded++;
      }
      await this.store.delete(Keys.subjectKey(pseudonym, keyId));
    }
    const status = keysShredded > 0 || tombstoned.size > 0 ? 'shredded' : 'unknown';
    return { keysShredded, status };
  }

  async list(): Promise<SubjectKeyInfo[]> {
    const found = new Map<string, SubjectKeyInfo>();
    for (const object of await listRepositoryObjects(this.store, Keys.subjectTombstones())) {
      const tombstone = await this.readTombstone(object.key);
      found.set(`${tombstone.pseudonym}/${tombstone.keyId}`, { ...tombstone, status: 'shredded' });
    }
    for (const object of await listRepositoryObjects(this.store, Keys.subjectKeys())) {
      const [pseudonym, keyId] = object.key.slice(Keys.subjectKeys().length).split('/');
      const shredded = found.get(`${pseudonym}/${keyId}`);
      if (shredded) shredded.shredIncomplete = true;
      else found.set(`${pseudonym}/${keyId}`, { pseudonym, keyId, status: 'active' });
    }
    return [...found.values()]
      .map(({ pseudonym, keyId, status, shreddedAt, shredIncomplete }) => ({
        pseudonym,
        keyId,
        status,
        ...(shreddedAt ? { shreddedAt } : {}),
        ...(shredIncomplete ? { shredIncomplete } : {}),
      }))
      .sort((a, b) => a.pseudonym.localeCompare(b.pseudonym) || a.keyId.localeCompare(b.keyId));
  }

  private async unwrap(pseudonym: string, keyId: string): Promise<SubjectKeyMaterial | null> {
    const name = Keys.subjectKey(pseudonym, keyId);
    let sealed: Buffer;
    try {
      sealed = await this.store.get(name);
    } catch (error) {
      if (error instanceof ObjectNotFoundError) return null;
      throw error;
    }
    try {
      return { pseudonym, keyId, key: open(this.master.subjectKeyWrapKey, sealed, AAD.subjectKey(pseudonym, keyId)) };
    } catch (error) {
      if (!(error instanceof DecryptionError)) throw error;
      throw new EngineError('REPO_DAMAGED', `subject key ${name} in ${this.store.location} is damaged (truncated or modified)`);
    }
  }

  private async keyIds(pseudonym: string): Promise<string[]> {
    const prefix = Keys.subjectKeys(pseudonym);
    return (await listRepositoryObjects(this.store, prefix)).map((object) => object.key.slice(prefix.length)).sort();
  }

  private async activeKeyIds(pseudonym: string): Promise<string[]> {
    const tombstoned = await this.tombstonedKeyIds(pseudonym);
    return (await this.keyIds(pseudonym)).filter((keyId) => !tombstoned.has(keyId));
  }

  private async tombstonedKeyIds(pseudonym: string): Promise<Set<string>> {
    const prefix = Keys.subjectTombstones(pseudonym);
    return new Set((await listRepositoryObjects(this.store, prefix)).map((object) => object.key.slice(prefix.length)));
  }

  /** A tombstone's existence is what counts; an unreadable one only loses its time. */
  private async readTombstone(key: string): Promise<{ pseudonym: string; keyId: string; shreddedAt?: string }> {
    const [pseudonym, keyId] = key.slice(Keys.subjectTombstones().length).split('/');
    try {
      const tombstone = JSON.parse((await this.store.get(key)).toString('utf8')) as Partial<SubjectTombstone>;
      if (tombstone.pseudonym === pseudonym && tombstone.keyId === keyId && typeof tombstone.shreddedAt === 'string') {
        return { pseudonym, keyId, shreddedAt: tombstone.shreddedAt };
      }
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
    }
    return { pseudonym, keyId };
  }
}

function assertKeyId(keyId: string): void {
  if (!SUBJECT_KEY_ID_PATTERN.test(keyId)) throw new EngineError('INVALID_ARGUMENT', `"${keyId}" is not a subject key id`);
}
