import { webcrypto } from 'node:crypto';
import { EngineError } from '../errors';
import { SubjectKey } from '../crypto/subject-key';
import { BlobLocation, Keys, parseSubjectScope } from '../repository/format';
import { readPackHeader } from '../repository/pack-file';
import { describe, Repository } from '../repository/repository';
import { ObjectNotFoundError } from '../storage/object-store';
import { SubjectKeyRing } from '../subjects/key-ring';
import { CheckResult } from './check-types';
import { ReferenceMap } from './reference-map';

/**
 * A pack's bytes, or null when it is missing (the structure check reports that). Never rejects:
 * it is started ahead of time, and a failure is thrown where the pack is used (unwrapFetched).
 */
export function fetchPack(repository: Repository, packId: string): Promise<Buffer | null | { failed: unknown }> {
  return repository.store
    .get(Keys.pack(packId))
    .catch((error: unknown) => (error instanceof ObjectNotFoundError ? null : { failed: error }));
}

export function unwrapFetched(fetched: Buffer | null | { failed: unknown }): Buffer | null {
  if (fetched !== null && !Buffer.isBuffer(fetched)) throw fetched.failed;
  return fetched;
}

/** Blobs of one pack decoded at once: zstd runs on libuv's pool while this thread decrypts others. */
export const PARALLEL_BLOBS = 8;

export async function readPack(
  repository: Repository,
  keys: SubjectKeyRing,
  packId: string,
  bytes: Buffer | null,
  references: ReferenceMap,
  result: CheckResult,
): Promise<void> {
  if (bytes === null) return;
  const key = Keys.pack(packId);
  const indexed = repository.index.pack(packId)?.blobs ?? [];
  const report = (message: string, blobs: BlobLocation[]) =>
    result.errors.push({ kind: 'pack-damaged', object: key, message, affected: references.affectedBy(blobs) });
  // WebCrypto hashes on libuv's pool too, alongside the decoding below.
  const hash = webcrypto.subtle.digest('SHA-256', bytes).then((digest) => Buffer.from(digest).toString('hex'));
  let blobs: BlobLocation[];
  try {
    blobs = readPackHeader(repository.master, bytes);
  } catch (error) {
    await hash;
    report(`pack ${key} is damaged: its header cannot be read (${describe(error)})`, indexed);
    return;
  }
  const outcomes: ('read' | 'damaged' | 'skipped')[] = new Array(blobs.length);
  let nextBlob = 0;
  const decodeSome = async (): Promise<void> => {
    while (nextBlob < blobs.length) {
      const index = nextBlob++;
      const blob = blobs[index];
      const subject = parseSubjectScope(blob.scope);
      // Without the key (erased, or lost: reported above) a blob cannot be read; the pack hash still covers it.
      if (subject && !((await keys.lookup(subject.pseudonym, subject.keyId).catch(() => null)) instanceof SubjectKey)) {
        outcomes[index] = 'skipped';
        continue;
      }
      try {
        await repository.decodeBlob(packId, blob, bytes.subarray(blob.offset, blob.offset + blob.length), keys);
        outcomes[index] = 'read';
      } catch (error) {
        if (!(error instanceof EngineError)) throw error;
        outcomes[index] = 'damaged';
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_BLOBS, blobs.length) }, decodeSome));
  result.blobsRead += outcomes.filter((outcome) => outcome === 'read').length;
  const damaged = blobs.filter((_, index) => outcomes[index] === 'damaged');
  const hashMatches = (await hash) === packId;
  if (damaged.length > 0) {
    report(`pack ${key} is damaged: ${damaged.length} of ${blobs.length} blob(s) fail authentication or hash check`, damaged);
  } else if (!hashMatches) {
    report(`pack ${key} is damaged: its content does not match its name (SHA-256)`, []);
  }
}
