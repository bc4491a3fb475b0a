import { webcrypto } from 'node:crypto';
import { EngineError } from '../errors';
import { SubjectKey } from '../crypto/subject-key';
import { BlobLocation, Keys, parseSubjectScope, StoredEntry, TreeEntry } from '../repository/format';
import { readPackHeader } from '../repository/pack-file';
import { isRepositoryObjectName, packIdOf } from '../repository/object-names';
import { describe, Repository, StoredSnapshot } from '../repository/repository';
import { ObjectNotFoundError } from '../storage/object-store';
import { planRestore } from '../restore/plan';
import { SubjectKeyRing } from '../subjects/key-ring';
import { isSealedEntry, openSealedEntry } from '../subjects/sealed-entry';

export interface CheckOptions {
  /** Decrypt and hash-check every blob. */
  readData?: boolean;
  /** Read only slice n of m (1-based), so verification can be spread over runs or workers. */
  readDataSubset?: { n: number; m: number };
  onProgress?: (progress: { packsDone: number; totalPacks: number }) => void;
}

export interface CheckProblem {
  kind:
    | 'index-damaged'
    | 'snapshot-damaged'
    | 'tree-damaged'
    | 'blob-missing'
    | 'pack-missing'
    | 'pack-size'
    | 'pack-damaged'
    | 'subject-key-missing'
    | 'subject-key-damaged'
    | 'sealed-entry-damaged'
    | 'snapshot-unrestorable';
  object: string;
  message: string;
  /** Snapshots and files that cannot be fully restored because of this problem. */
  affected?: { snapshot: string; paths: string[] }[];
}

export interface CheckResult {
  ok: boolean;
  snapshots: number;
  packs: number;
  blobs: number;
  packsRead: number;
  blobsRead: number;
  errors: CheckProblem[];
  /** Harmless findings: unreferenced packs or temporary files left by an interrupted backup. */
  warnings: string[];
  /** Data subjects with an active key. */
  activeSubjects: number;
  /** Data subjects with a shredded key: erased, as requested. */
  shreddedSubjects: number;
  /** Sealed entries (counted per snapshot) and blobs of erased subjects: unreadable by design, not damage. */
  shreddedEntries: number;
  shreddedBlobs: number;
}

/**
 * Structure check: every blob a snapshot references is in the index and its pack exists with
 * the size the index records. With read-data, every pack (or one slice of them) is read whole:
 * its SHA-256 must match its name, its header must decrypt, and every blob must authenticate
 * and hash to its id. Damage is reported with the snapshots and files it affects.
 *
 * Data of erased subjects (their keys shredded, with a tombstone) cannot be decrypted: it is
 * counted, not reported as damage; read-data skips those blobs but still checks each pack's
 * SHA-256. A subject key that is missing without a tombstone was lost, not erased: an error.
 */
export async function check(repository: Repository, options: CheckOptions = {}): Promise<CheckResult> {
  return repository.whileLocked('shared', async () => (await inspect(repository, options)).result);
}

/**
 * The check itself, under a lock the caller holds, with every blob the snapshots reference
 * (and who uses it): prune starts from the same walk, so both agree on what is in use.
 */
export async function inspect(
  repository: Repository,
  options: CheckOptions = {},
  /** Prune's: a snapshot that cannot be read, even one gone since the listing, is an error. */
  strictSnapshots = false,
): Promise<{ result: CheckResult; references: ReferenceMap }> {
  const result: CheckResult = {
    ok: true,
    snapshots: 0,
    packs: 0,
    blobs: 0,
    packsRead: 0,
    blobsRead: 0,
    errors: [],
    warnings: [],
    activeSubjects: 0,
    shreddedSubjects: 0,
    shreddedEntries: 0,
    shreddedBlobs: 0,
  };
  await repository.loadIndex((key, reason) =>
    result.errors.push({
      kind: 'index-damaged',
      object: key,
      message: `index file ${key} is damaged (${reason}); run "custodia index rebuild"`,
    }),
  );
  const snapshots = await repository.listSnapshots(
    (id, error) => result.errors.push({ kind: 'snapshot-damaged', object: Keys.snapshot(id), message: error.message }),
    { missingIsDamage: strictSnapshots },
  );
  result.snapshots = snapshots.length;

  // One listing of the whole repository: the packs, and any name that is not Custodia's.
  const everything = await repository.store.list('');
  const foreign = everything.filter((object) => !isRepositoryObjectName(object.key));
  const stored = new Map(
    everything
      .filter((object) => object.key.startsWith('data/') && isRepositoryObjectName(object.key))
      .map((object) => [packIdOf(object.key), object.size]),
  );

  const indexed = repository.index.allPacks();
  result.packs = stored.size;
  result.blobs = repository.index.blobCount;
  const missingPacks = new Set<string>();
  for (const pack of indexed) {
    const size = stored.get(pack.id);
    if (size === undefined) missingPacks.add(pack.id);
    else if (size !== pack.size) {
      result.errors.push({
        kind: 'pack-size',
        object: Keys.pack(pack.id),
        message: `pack ${Keys.pack(pack.id)} has ${size} bytes, the index says ${pack.size}`,
      });
    }
  }
  const unindexed = [...stored.keys()].filter((id) => !repository.index.pack(id));
  if (unindexed.length > 0) {
    result.warnings.push(
      `${unindexed.length} pack(s) are in no index (left by an interrupted backup); "custodia index rebuild" adopts them`,
    );
  }
  const leftovers = await repository.store.listLeftovers();
  if (leftovers.length > 0) result.warnings.push(`${leftovers.length} temporary file(s) left by an interrupted write`);
  if (foreign.length > 0) {
    result.warnings.push(
      `${foreign.length} object(s) are not Custodia's and were ignored (an upload in progress, or files put there by hand), e.g. ${foreign[0].key}`,
    );
  }

  const keys = repository.subjectKeys();
  await checkSubjectKeys(repository, keys, result);
  const missingKeys = new MissingKeys();
  const references = new ReferenceMap(keys, missingKeys);
  for (const stored of snapshots) await references.collect(repository, stored, result);
  for (const stored of snapshots) await checkRestorable(repository, keys, stored, result);
  await countSubjectBlobs(repository, keys, missingKeys, result);
  missingKeys.report(result);

  for (const [blobId, users] of references.blobs) {
    const entry = repository.index.lookup(blobId);
    if (!entry) {
      result.errors.push({
        kind: 'blob-missing',
        object: blobId,
        message: `blob ${blobId} is referenced but in no index`,
        affected: users.summary(),
      });
    }
  }
  for (const packId of missingPacks) {
    result.errors.push({
      kind: 'pack-missing',
      object: Keys.pack(packId),
      message: `pack ${Keys.pack(packId)} is missing`,
      affected: references.affectedBy(repository.index.pack(packId)?.blobs ?? []),
    });
  }

  if (options.readData || options.readDataSubset) {
    const subset = options.readDataSubset;
    const toRead = [...stored.keys()].filter((id) => !subset || inSlice(id, subset.n, subset.m)).sort();
    // The next pack is read from storage while this one's blobs are decoded.
    let next = toRead.length > 0 ? fetchPack(repository, toRead[0]) : null;
    for (const [index, packId] of toRead.entries()) {
      const fetched = next;
      next = index + 1 < toRead.length ? fetchPack(repository, toRead[index + 1]) : null;
      await readPack(repository, keys, packId, unwrapFetched(await fetched), references, result);
      result.packsRead++;
      options.onProgress?.({ packsDone: result.packsRead, totalPacks: toRead.length });
    }
  }
  result.ok = result.errors.length === 0;
  return { result, references };
}

/** A pack belongs to slice n of m by the first 32 bits of its id: stable as packs are added. */
export function inSlice(packId: string, n: number, m: number): boolean {
  return parseInt(packId.slice(0, 8), 16) % m === n - 1;
}

/** Every key in the vault must unwrap; an interrupted shred is finished by shredding again. */
async function checkSubjectKeys(repository: Repository, keys: SubjectKeyRing, result: CheckResult): Promise<void> {
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
async function countSubjectBlobs(repository: Repository, keys: SubjectKeyRing, missing: MissingKeys, result: CheckResult): Promise<void> {
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
class MissingKeys {
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

/**
 * A pack's bytes, or null when it is missing (the structure check reports that). Never rejects:
 * it is started ahead of time, and a failure is thrown where the pack is used (unwrapFetched).
 */
function fetchPack(repository: Repository, packId: string): Promise<Buffer | null | { failed: unknown }> {
  return repository.store
    .get(Keys.pack(packId))
    .catch((error: unknown) => (error instanceof ObjectNotFoundError ? null : { failed: error }));
}

function unwrapFetched(fetched: Buffer | null | { failed: unknown }): Buffer | null {
  if (fetched !== null && !Buffer.isBuffer(fetched)) throw fetched.failed;
  return fetched;
}

/** Blobs of one pack decoded at once: zstd runs on libuv's pool while this thread decrypts others. */
const PARALLEL_BLOBS = 8;

async function readPack(
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

class BlobUsers {
  readonly bySnapshot = new Map<string, Set<string>>();

  add(snapshot: string, path: string): void {
    let paths = this.bySnapshot.get(snapshot);
    if (!paths) this.bySnapshot.set(snapshot, (paths = new Set()));
    paths.add(path);
  }

  summary(): { snapshot: string; paths: string[] }[] {
    return [...this.bySnapshot].map(([snapshot, paths]) => ({ snapshot, paths: [...paths].sort() }));
  }
}

/**
 * Runs the restore planner's own checks over the whole snapshot: a manifest that a restore
 * would refuse (an unsafe or repeated name) is a damaged snapshot, never a healthy one. Trees
 * that cannot be read are reported by the reference walk already.
 */
async function checkRestorable(repository: Repository, keys: SubjectKeyRing, stored: StoredSnapshot, result: CheckResult): Promise<void> {
  try {
    await planRestore(repository, stored.snapshot.tree, [], { keys });
  } catch (error) {
    if (!(error instanceof EngineError) || error.code !== 'UNSAFE_PATH') return;
    result.errors.push({
      kind: 'snapshot-unrestorable',
      object: Keys.snapshot(stored.id),
      message: `snapshot ${stored.id.slice(0, 8)} cannot be restored: ${error.message}`,
      affected: [{ snapshot: stored.id, paths: ['/'] }],
    });
  }
}

/** Which snapshot files use which blob, so damage can be reported in terms a user recognises. */
export class ReferenceMap {
  readonly blobs = new Map<string, BlobUsers>();

  constructor(
    private readonly keys: SubjectKeyRing,
    private readonly missingKeys: MissingKeys,
  ) {}

  async collect(repository: Repository, snapshot: StoredSnapshot, result: CheckResult): Promise<void> {
    const snapshotId = snapshot.id;
    const visit = async (treeId: string, prefix: string): Promise<void> => {
      this.use(treeId, snapshotId, prefix || '/');
      let entries: StoredEntry[];
      try {
        entries = (await repository.readTree(treeId, this.keys)).entries;
      } catch (error) {
        result.errors.push({
          kind: 'tree-damaged',
          object: treeId,
          message: `tree of "${prefix || '/'}" in snapshot ${snapshotId.slice(0, 8)} cannot be read: ${describe(error)}`,
          affected: [{ snapshot: snapshotId, paths: [prefix || '/'] }],
        });
        return;
      }
      for (const stored of entries) {
        let entry: TreeEntry;
        let path: string;
        if (isSealedEntry(stored)) {
          // Paths name a subject's entry by pseudonym: its real name is the subject's external id.
          path = `${prefix}/<subject ${String(stored.subject).slice(0, 12)}>`;
          const opened = await openSealedEntry(this.keys, stored);
          if (opened.status === 'shredded') result.shreddedEntries++;
          else if (opened.status === 'missing') this.missingKeys.addEntry(stored.subject, stored.key, stored.files, snapshotId, path);
          else if (opened.status === 'damaged') {
            result.errors.push({
              kind: 'sealed-entry-damaged',
              object: treeId,
              message: `a sealed entry of subject ${String(stored.subject)} in "${prefix || '/'}" of snapshot ${snapshotId.slice(0, 8)} cannot be opened (${opened.reason})`,
              affected: [{ snapshot: snapshotId, paths: [path] }],
            });
          }
          if (opened.status !== 'open') continue;
          entry = opened.entry;
        } else {
          entry = stored;
          path = `${prefix}/${entry.name}`;
        }
        if (entry.type === 'file') for (const id of entry.content) this.use(id, snapshotId, path);
        if (entry.type === 'dir') await visit(entry.subtree, path);
      }
    };
    await visit(snapshot.snapshot.tree, '');
  }

  affectedBy(blobs: { id: string }[]): { snapshot: string; paths: string[] }[] {
    const merged = new BlobUsers();
    for (const blob of blobs) {
      for (const [snapshot, paths] of this.blobs.get(blob.id)?.bySnapshot ?? []) for (const path of paths) merged.add(snapshot, path);
    }
    return merged.summary();
  }

  private use(blobId: string, snapshot: string, path: string): void {
    let users = this.blobs.get(blobId);
    if (!users) this.blobs.set(blobId, (users = new BlobUsers()));
    users.add(snapshot, path);
  }
}
