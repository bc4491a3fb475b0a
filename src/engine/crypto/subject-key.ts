import { createHmac, hkdfSync } from 'node:crypto';
import { subjectScope } from '../repository/format';
import type { ScopeKeys } from './scope-keys';

/**
 * One data subject's key (32 random bytes from the key vault) and the keys derived from it,
 * one per purpose (HKDF-SHA256, empty salt):
 * - `custodia/subject/content`: blob content of the subject's scope;
 * - `custodia/subject/blob-id`: blob ids, so identical content of two subjects gets two ids and
 *   is stored twice (no cross-subject deduplication, which would tie one subject's erasure to
 *   another's data and reveal that two subjects hold the same content);
 * - `custodia/subject/entry`: the sealed tree entries naming the subject's files.
 */
export class SubjectKey implements ScopeKeys {
  readonly scope: string;
  readonly contentKey: Buffer;
  readonly entryKey: Buffer;
  private readonly idKey: Buffer;

  constructor(
    readonly pseudonym: string,
    readonly keyId: string,
    secret: Buffer,
  ) {
    if (secret.length !== 32) throw new Error('a subject key must be 32 bytes');
    this.scope = subjectScope(pseudonym, keyId);
    this.contentKey = derive(secret, 'custodia/subject/content');
    this.idKey = derive(secret, 'custodia/subject/blob-id');
    this.entryKey = derive(secret, 'custodia/subject/entry');
  }

  blobId(data: Buffer): string {
    return createHmac('sha256', this.idKey).update(data).digest('hex');
  }
}

function derive(secret: Buffer, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), info, 32));
}
