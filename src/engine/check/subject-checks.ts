import { Keys, parseSubjectScope } from '../repository/format';
import { describe, Repository } from '../repository/repository';
import { SubjectKeyRing } from '../subjects/key-ring';
import { CheckResult } from './check-types';
import { BlobUsers } from './blob-users';

/** Every key in the vault must unwrap; an interrupted shred is finished by shredding again. */
export async function checkSubjectKeys(repository: Repository, keys: SubjectKeyRing, result: CheckResult): Promise<void> {
  let known;
  try {
    known = await repository.keyVault.list();
  } catch (error) {
    result.errors.push({
      kind: 'subject-key-damaged',
      object: 'subject-keys/',
      message: `the subject key vault cannot be read: ${describe(error)}`,
    });
    return;
  }
  const active = new Set<string>();
  const shredded = new Set<string>();
  for (const key of known) {
    if (key.status === 'shredded') {
      shredded.add(key.pseudonym);
      if (key.shredIncomplete) {
        result.warnings.push(
          `the shredding of subject ${key.pseudonym} was interrupted: key object ${Keys.subjectKey(key.pseudonym, key.keyId)} is still there (it counts as shredded); shred the subject again to delete it`,
        );
      }
      continue;
    }
    active.add(key.pseudonym);
    try {
      await keys.lookup(key.pseudonym, key.keyId);
    } catch (error) {
      result.errors.push({ kind: 'subject-key-damaged', object: Keys.subjectKey(key.pseudonym, key.keyId), message: describe(error) });
    }
  }
  result.activeSubjects = active.size;
  result.shreddedSubjects = shredded.size;
}

/** Blobs of subject scopes: shredded ones are counted, those of a lost key reported. */
export async function countSubjectBlobs(
  repository: Repository,
  keys: SubjectKeyRing,
  missing: MissingKeys,
  result: CheckResult,
): Promise<void> {
  const seen = new Set<string>();
  for (const pack of repository.index.allPacks()) {
    for (const blob of pack.blobs) {
      if (seen.has(blob.id)) continue;
      seen.add(blob.id);
      const subject = parseSubjectScope(blob.scope);
      if (!subject) continue;
      const key = await keys.lookup(subject.pseudonym, subject.keyId).catch(() => null);
      if (key === 'shredded') result.shreddedBlobs++;
      else if (key === 'missing') missing.addBlob(subject.pseudonym, subject.keyId);
    }
  }
}

/** Keys that are gone without a tombstone, with what they made unreadable: one error per key. */
export class MissingKeys {
  private readonly keys = new Map<string, { pseudonym: string; keyId: string; blobs: number; files: number; users: BlobUsers }>();

  addBlob(pseudonym: string, keyId: string): void {
    this.get(pseudonym, keyId).blobs++;
  }

  addEntry(pseudonym: string, keyId: string, files: number, snapshot: string, path: string): void {
    const missing = this.get(pseudonym, keyId);
    missing.files += files;
    missing.users.add(snapshot, path);
  }

  report(result: CheckResult): void {
    for (const { pseudonym, keyId, blobs, files, users } of this.keys.values()) {
      result.errors.push({
        kind: 'subject-key-missing',
        object: Keys.subjectKey(pseudonym, keyId),
        message:
          `key ${keyId} of data subject ${pseudonym} is missing and no tombstone says it was shredded: it was lost, not erased ` +
          `(${blobs} blob(s), ${files} file(s) in sealed entries cannot be read)`,
        affected: users.summary(),
      });
    }
  }

  private get(pseudonym: string, keyId: string) {
    const name = `${pseudonym}/${keyId}`;
    let missing = this.keys.get(name);
    if (!missing) this.keys.set(name, (missing = { pseudonym, keyId, blobs: 0, files: 0, users: new BlobUsers() }));
    return missing;
  }
}
