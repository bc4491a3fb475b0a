import { DecryptionError, open, seal } from '../crypto/aead';
import { SubjectKey } from '../crypto/subject-key';
import { AAD, ENTRY_TYPES, PSEUDONYM_PATTERN, SealedEntry, StoredEntry, SUBJECT_KEY_ID_PATTERN, TreeEntry } from '../repository/format';
import { describe } from '../repository/repository';
import { SubjectKeyRing } from './key-ring';

/** Files and bytes below an entry: the counts a sealed entry shows in clear. */
export interface EntryCounts {
  files: number;
  bytes: number;
}

/**
 * Seals a tree entry that belongs to a data subject: its JSON (name, metadata, content or
 * subtree) goes into an AEAD box under the subject's entry key, with associated data naming
 * the pseudonym, the key id and the clear counts, so none of them can be altered or swapped.
 */
export function sealEntry(key: SubjectKey, entry: TreeEntry, counts: EntryCounts): { sealed: SealedEntry; plaintext: string } {
  const plaintext = JSON.stringify(entry);
  const box = seal(key.entryKey, Buffer.from(plaintext, 'utf8'), AAD.sealedEntry(key.pseudonym, key.keyId, counts.files, counts.bytes));
  return {
    sealed: {
      type: 'sealed',
      subject: key.pseudonym,
      key: key.keyId,
      files: counts.files,
      bytes: counts.bytes,
      box: box.toString('base64'),
    },
    plaintext,
  };
}

export function isSealedEntry(entry: StoredEntry): entry is SealedEntry {
  return entry.type === 'sealed';
}

/** Whether a stored entry has the fields of a sealed entry (a tree may be crafted or damaged). */
export function isWellFormedSealedEntry(entry: SealedEntry): boolean {
  return (
    typeof entry.subject === 'string' &&
    PSEUDONYM_PATTERN.test(entry.subject) &&
    typeof entry.key === 'string' &&
    SUBJECT_KEY_ID_PATTERN.test(entry.key) &&
    Number.isSafeInteger(entry.files) &&
    entry.files >= 0 &&
    Number.isSafeInteger(entry.bytes) &&
    entry.bytes >= 0 &&
    typeof entry.box === 'string'
  );
}

export type OpenedEntry =
  | { status: 'open'; entry: TreeEntry; plaintext: string; key: SubjectKey }
  /** The subject's key was shredded: the entry is erased, as intended. */
  | { status: 'shredded' }
  /** The key is gone without a tombstone: damage. */
  | { status: 'missing' }
  | { status: 'damaged'; reason: string };

/** Opens a sealed entry with the subject key from the ring, or says why it cannot. */
export async function openSealedEntry(keys: SubjectKeyRing, sealed: SealedEntry): Promise<OpenedEntry> {
  if (!isWellFormedSealedEntry(sealed)) return { status: 'damaged', reason: 'malformed sealed entry' };
  let key;
  try {
    key = await keys.lookup(sealed.subject, sealed.key);
  } catch (error) {
    return { status: 'damaged', reason: describe(error) };
  }
  if (key === 'shredded' || key === 'missing') return { status: key };
  let plaintext: string;
  try {
    const aad = AAD.sealedEntry(sealed.subject, sealed.key, sealed.files, sealed.bytes);
    plaintext = open(key.entryKey, Buffer.from(sealed.box, 'base64'), aad).toString('utf8');
  } catch (error) {
    return { status: 'damaged', reason: error instanceof DecryptionError ? 'authentication failed' : describe(error) };
  }
  let entry: TreeEntry;
  try {
    entry = JSON.parse(plaintext) as TreeEntry;
  } catch {
    return { status: 'damaged', reason: 'not valid JSON' };
  }
  if (typeof entry !== 'object' || entry === null || !ENTRY_TYPES.includes(entry.type)) {
    return { status: 'damaged', reason: 'not a tree entry' };
  }
  return { status: 'open', entry, plaintext, key };
}

/**
 * Named entries keep their byte order of names; sealed ones follow, ordered by box, so their
 * position says nothing about the names inside them.
 */
export function orderEntries(entries: StoredEntry[]): StoredEntry[] {
  const named = entries.filter((entry) => !isSealedEntry(entry));
  const sealed = entries.filter(isSealedEntry).sort((a, b) => (a.box < b.box ? -1 : a.box > b.box ? 1 : 0));
  return [...named, ...sealed];
}
