/**
 * The keys a blob is written and read with. Every blob names its scope; the scope decides which
 * key encrypts it and which key its id is a keyed hash under. "repo" is derived from the master
 * key; a data subject's scope has the subject's own random key (crypto-shredding: destroy it
 * and the subject's blobs can no longer be decrypted, nor their ids recomputed from content).
 */
export interface ScopeKeys {
  /** The scope name recorded with every blob: "repo" or `subject:<pseudonym>:<key id>`. */
  readonly scope: string;
  /** The AEAD key of blob content (each box then derives its own subkey). */
  readonly contentKey: Buffer;
  /** The blob id: a keyed hash of the plaintext, so ids reveal nothing without the key. */
  blobId(data: Buffer): string;
}
