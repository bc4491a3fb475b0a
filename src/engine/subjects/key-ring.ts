import { MasterKey } from '../crypto/master-key';
import { ScopeKeys } from '../crypto/scope-keys';
import { SubjectKey } from '../crypto/subject-key';
import { EngineError } from '../errors';
import { parseSubjectScope, Tree } from '../repository/format';
import { KeyVault } from './key-vault';

/** A subject key, or why there is none: shredded on purpose (erased), or missing (lost). */
export type SubjectKeyLookup = SubjectKey | 'shredded' | 'missing';

/**
 * The subject keys one operation (a backup, a restore, a check) has opened, held in memory
 * for as long as the operation runs and no longer: a restore that has a key finishes its files
 * even if the subject is shredded meanwhile, while the next operation asks the vault again and
 * finds the key gone. Decrypted trees of subject scopes are cached here too, never in the
 * long-lived repository object.
 */
export class SubjectKeyRing {
  readonly trees = new Map<string, Tree>();
  private readonly lookups = new Map<string, Promise<SubjectKeyLookup>>();
  private readonly current = new Map<string, Promise<SubjectKey>>();
  /** Subjects whose key this operation created (the key ids). */
  readonly created = new Map<string, string>();

  constructor(
    private readonly vault: KeyVault,
    private readonly master: MasterKey,
  ) {}

  /** The subject key with this id, or 'shredded' / 'missing'. */
  lookup(pseudonym: string, keyId: string): Promise<SubjectKeyLookup> {
    const name = `${pseudonym}:${keyId}`;
    let found = this.lookups.get(name);
    if (!found) {
      found = this.fetch(pseudonym, keyId);
      this.lookups.set(name, found);
    }
    return found;
  }

  /** The subject's active key, created if it has none (used by backups). */
  active(pseudonym: string): Promise<SubjectKey> {
    let key = this.current.get(pseudonym);
    if (!key) {
      key = this.vault.getOrCreate(pseudonym).then((material) => {
        const subjectKey = new SubjectKey(material.pseudonym, material.keyId, material.key);
        if (material.created) this.created.set(pseudonym, material.keyId);
        this.lookups.set(`${pseudonym}:${material.keyId}`, Promise.resolve(subjectKey));
        return subjectKey;
      });
      this.current.set(pseudonym, key);
    }
    return key;
  }

  /**
   * The keys of a blob scope: "repo" (and any other non-subject scope) from the master key, a
   * subject scope from the vault. Throws SUBJECT_ERASED or SUBJECT_KEY_MISSING without a key.
   */
  async forScope(scope: string): Promise<ScopeKeys> {
    const subject = parseSubjectScope(scope);
    if (!subject) {
      if (scope.startsWith('subject:')) throw new EngineError('BLOB_DAMAGED', `blob scope "${scope}" is malformed`);
      return this.master.scopeKeys(scope);
    }
    const key = await this.lookup(subject.pseudonym, subject.keyId);
    if (key === 'shredded') {
      throw new EngineError('SUBJECT_ERASED', `the data of subject ${subject.pseudonym} under key ${subject.keyId} was erased`);
    }
    if (key === 'missing') {
      throw new EngineError(
        'SUBJECT_KEY_MISSING',
        `key ${subject.keyId} of subject ${subject.pseudonym} is missing, and no tombstone says it was shredded`,
      );
    }
    return key;
  }

  private async fetch(pseudonym: string, keyId: string): Promise<SubjectKeyLookup> {
    const material = await this.vault.get(pseudonym, keyId);
    if (material) return new SubjectKey(pseudonym, keyId, material.key);
    return (await this.vault.status(pseudonym, keyId)) === 'shredded' ? 'shredded' : 'missing';
  }
}
