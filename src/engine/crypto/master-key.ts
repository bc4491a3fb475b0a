import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import type { ScopeKeys } from './scope-keys';

/**
 * The repository's master secret (64 random bytes), unwrapped from a key slot. Every other
 * key is derived from it for one purpose, so that no key serves two roles:
 * - `idKey`: keyed hash of blob content (ids reveal nothing to someone without the key);
 * - `metadataKey`: pack headers, index files, snapshots;
 * - `scopeKey(scope)`: blob content in a key scope ("repo"; a data subject's blobs are under
 *   the subject's own key instead, see SubjectKey);
 * - `chunkerSeed`: the chunker's gear table, so cut points do not fingerprint known files;
 * - `subjectKeyWrapKey`: wraps the per-data-subject keys stored in the repository;
 * - `lockKey`: lock objects (they name a host and a process).
 */
export class MasterKey {
  readonly idKey: Buffer;
  readonly metadataKey: Buffer;
  readonly chunkerSeed: Buffer;
  readonly subjectKeyWrapKey: Buffer;
  readonly lockKey: Buffer;
  private readonly scopeKeyCache = new Map<string, Buffer>();
  private readonly scopeCache = new Map<string, ScopeKeys>();

  constructor(readonly secret: Buffer) {
    if (secret.length !== 64) throw new Error('master key must be 64 bytes');
    this.idKey = this.derive('custodia/blob-id');
    this.metadataKey = this.derive('custodia/metadata');
    this.chunkerSeed = this.derive('custodia/chunker');
    this.subjectKeyWrapKey = this.derive('custodia/subject-key-wrap');
    this.lockKey = this.derive('custodia/locks');
  }

  static generate(): MasterKey {
    return new MasterKey(randomBytes(64));
  }

  scopeKey(scope: string): Buffer {
    let key = this.scopeKeyCache.get(scope);
    if (!key) {
      key = this.derive(`custodia/scope/${scope}`);
      this.scopeKeyCache.set(scope, key);
    }
    return key;
  }

  /** The keys of a scope derived from the master key ("repo"): content key and blob-id key. */
  scopeKeys(scope = 'repo'): ScopeKeys {
    let keys = this.scopeCache.get(scope);
    if (!keys) {
      const contentKey = this.scopeKey(scope);
      keys = { scope, contentKey, blobId: (data: Buffer) => this.blobId(data) };
      this.scopeCache.set(scope, keys);
    }
    return keys;
  }

  blobId(data: Buffer): string {
    return createHmac('sha256', this.idKey).update(data).digest('hex');
  }

  private derive(info: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.secret, Buffer.alloc(0), info, 32));
  }
}
