import { createHmac, hkdfSync, randomBytes } from 'node:crypto';

/**
 * The repository's master secret (64 random bytes), unwrapped from a key slot. Every other
 * key is derived from it for one purpose, so that no key serves two roles:
 * - `idKey`: keyed hash of blob content (ids reveal nothing to someone without the key);
 * - `metadataKey`: pack headers, index files, snapshots;
 * - `scopeKey(scope)`: blob content in a key scope ("repo" today; per data subject later);
 * - `chunkerSeed`: the chunker's gear table, so cut points do not fingerprint known files.
 */
export class MasterKey {
  readonly idKey: Buffer;
  readonly metadataKey: Buffer;
  readonly chunkerSeed: Buffer;
  private readonly scopeKeys = new Map<string, Buffer>();

  constructor(readonly secret: Buffer) {
    if (secret.length !== 64) throw new Error('master key must be 64 bytes');
    this.idKey = this.derive('custodia/blob-id');
    this.metadataKey = this.derive('custodia/metadata');
    this.chunkerSeed = this.derive('custodia/chunker');
  }

  static generate(): MasterKey {
    return new MasterKey(randomBytes(64));
  }

  scopeKey(scope: string): Buffer {
    let key = this.scopeKeys.get(scope);
    if (!key) {
      key = this.derive(`custodia/scope/${scope}`);
      this.scopeKeys.set(scope, key);
    }
    return key;
  }

  blobId(data: Buffer): string {
    return createHmac('sha256', this.idKey).update(data).digest('hex');
  }

  private derive(info: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.secret, Buffer.alloc(0), info, 32));
  }
}
