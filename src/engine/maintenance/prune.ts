import { DEFAULT_PACK_TARGET } from '../backup/blob-saver';
import { inspect } from '../check/check';
import { SubjectKey } from '../crypto/subject-key';
import { EngineError } from '../errors';
import { BlobLocation, Keys, PackRecord, parseSubjectScope } from '../repository/format';
import { listRepositoryObjects, packIdOf } from '../repository/object-names';
import { assemblePack } from '../repository/pack-file';
import { Repository } from '../repository/repository';
import { SubjectKeyRing } from '../subjects/key-ring';

export interface PruneOptions {
  /** Plan and report only; nothing is written or deleted. */
  dryRun?: boolean;
  /**
   * A pack is rewritten once at least this share of its bytes is unused (default 0.05). Packs
   * holding blobs of an erased data subject are rewritten whatever the share.
   */
  maxUnusedShare?: number;
}

export interface PruneResult {
  dryRun: boolean;
  snapshots: number;
  packs: { before: number; kept: number; rewritten: number; deleted: number; written: number };
  blobs: { removed: number; erasedRemoved: number; copied: number };
  bytes: { before: number; after: number };
  /** Packs in no index (left by an interrupted backup): not touched; `index rebuild` adopts them. */
  unindexedPacks: number;
}

type PackPlan = { record: PackRecord; keep: BlobLocation[]; action: 'keep' | 'rewrite' | 'delete'; erased: number };

/**
 * Removes the data no snapshot uses any more: after snapshots were forgotten (retention), and the
 * blobs of erased data subjects, which nobody can decrypt but which still took space.
 *
 * It holds the repository's exclusive lock, and starts with the structure check: it deletes
 * only what it can prove unused, so any damage (an unreadable tree, a lost subject key) stops it
 * before it changes anything. Blobs it keeps from a rewritten pack are authenticated and
 * hash-checked on the way. The order keeps every step safe to interrupt: new packs, then the
 * new index, then the old index files, and only then the old packs. An interruption leaves
 * extra data, never a reference to missing data.
 */
export async function prune(repository: Repository, options: PruneOptions = {}): Promise<PruneResult> {
  return repository.whileLocked('exclusive', () => pruneUnderLock(repository, options));
}

async function pruneUnderLock(repository: Repository, options: PruneOptions): Promise<PruneResult> {
  const maxUnusedShare = options.maxUnusedShare ?? 0.05;
  if (!(maxUnusedShare >= 0 && maxUnusedShare <= 1)) throw new EngineError('INVALID_ARGUMENT', 'the unused share must be between 0 and 1');
  const indexFiles = await listRepositoryObjects(repository.store, 'index/');
  const snapshotsBefore = await snapshotNames(repository);
  const { result: checked, references } = await inspect(repository, {}, true);
  if (!checked.ok) {
    throw new EngineError(
      'PRUNE_REFUSED',
      `check found ${checked.errors.length} problem(s), the first: ${checked.errors[0].message}; ` +
        'prune deletes only what it can prove unused: run "custodia check" and repair first',
    );
  }
  const keys = repository.subjectKeys();
  const plans: PackPlan[] = [];
  for (const record of repository.index.allPacks()) {
    plans.push(await planPack(repository, keys, record, (id) => references.blobs.has(id), maxUnusedShare));
  }
  const stored = await listRepositoryObjects(repository.store, 'data/');
  const result: PruneResult = {
    dryRun: options.dryRun ?? false,
    snapshots: checked.snapshots,
    packs: { before: plans.length, kept: 0, rewritten: 0, deleted: 0, written: 0 },
    blobs: { removed: 0, erasedRemoved: 0, copied: 0 },
    bytes: { before: sum(plans.map((plan) => plan.record.size)), after: 0 },
    unindexedPacks: stored.filter((object) => !repository.index.pack(packIdOf(object.key))).length,
  };
  for (const plan of plans) {
    result.packs[plan.action === 'keep' ? 'kept' : plan.action === 'rewrite' ? 'rewritten' : 'deleted']++;
    if (plan.action === 'keep') continue;
    result.blobs.removed += plan.record.blobs.length - plan.keep.length;
    result.blobs.erasedRemoved += plan.erased;
    result.blobs.copied += plan.keep.length;
  }
  const kept = plans.filter((plan) => plan.action === 'keep').map((plan) => plan.record);
  const obsolete = plans.filter((plan) => plan.action !== 'keep');
  if (obsolete.length === 0 || result.dryRun) {
    result.bytes.after = result.dryRun ? estimateAfter(plans) : result.bytes.before;
    return result;
  }

  await assertSameSnapshots(repository, snapshotsBefore, checked.snapshots);
  const written = await copyBlobs(
    repository,
    keys,
    obsolete.filter((plan) => plan.action === 'rewrite'),
  );
  result.packs.written = written.length;
  const records = [...kept, ...written];
  const loadedBefore = repository.indexFilesLoaded;
  // The handle's in-memory index becomes exactly these records.
  const newIndexFiles = await repository.writeWholeIndex(records);
  // Last look before anything is deleted: the snapshots must be those whose references were counted.
  await assertSameSnapshots(repository, snapshotsBefore, checked.snapshots);
  // Every old index file goes, as seen by any of three looks: one left behind would name packs
  // deleted below, and a storage may leave a file out of one listing.
  const relisted = await listRepositoryObjects(repository.store, 'index/');
  const oldIndexFiles = new Set([...indexFiles, ...relisted].map((object) => object.key).concat(loadedBefore));
  for (const key of oldIndexFiles) if (!newIndexFiles.has(key)) await repository.store.delete(key);
  for (const plan of obsolete) await repository.store.delete(Keys.pack(plan.record.id));
  result.bytes.after = sum(records.map((record) => record.size));
  return result;
}

async function snapshotNames(repository: Repository): Promise<string[]> {
  return (await listRepositoryObjects(repository.store, 'snapshots/')).map((object) => object.key).sort();
}

/**
 * Nothing can add or remove a snapshot while prune holds the exclusive lock, so listings that
 * disagree mean the storage lists unreliably (S3Proxy's filesystem backend can leave an object
 * out of a listing while another object is being written: measured 3 in 1,038 listings). A
 * snapshot missing from the walk would make its data look unused, so prune stops instead.
 */
async function assertSameSnapshots(repository: Repository, before: string[], walked: number): Promise<void> {
  const now = await snapshotNames(repository);
  if (now.length !== before.length || now.some((name, index) => name !== before[index]) || walked !== before.length) {
    throw new EngineError(
      'PRUNE_REFUSED',
      `the storage listed ${before.length}, then ${now.length} snapshot(s) (${walked} read) while prune held the repository; ` +
        'its listings are not reliable right now, so nothing was deleted: try again',
    );
  }
}

/** Which blobs of a pack stay (used, and the index's own copy), and what to do with the pack. */
async function planPack(
  repository: Repository,
  keys: SubjectKeyRing,
  record: PackRecord,
  isUsed: (id: string) => boolean,
  maxUnusedShare: number,
): Promise<PackPlan> {
  const keep: BlobLocation[] = [];
  let unusedBytes = 0;
  let erased = 0;
  for (const blob of record.blobs) {
    // A blob stored twice (two backups at once) is used in the copy the index points at only.
    if (isUsed(blob.id) && repository.index.lookup(blob.id)?.packId === record.id) {
      keep.push(blob);
      continue;
    }
    unusedBytes += blob.length;
    const subject = parseSubjectScope(blob.scope);
    if (subject && (await keys.lookup(subject.pseudonym, subject.keyId)) === 'shredded') erased++;
  }
  let action: PackPlan['action'] = 'keep';
  if (keep.length === 0) action = 'delete';
  else if (erased > 0 || (unusedBytes > 0 && unusedBytes >= record.size * maxUnusedShare)) action = 'rewrite';
  return { record, keep, action, erased };
}

/** Copies the kept blobs of the packs to rewrite into new packs, checking each one first. */
async function copyBlobs(repository: Repository, keys: SubjectKeyRing, plans: PackPlan[]): Promise<PackRecord[]> {
  const written: PackRecord[] = [];
  let open: { location: Omit<BlobLocation, 'offset'>; sealed: Buffer }[] = [];
  let openBytes = 0;
  const flush = async () => {
    if (open.length === 0) return;
    const pack = await assemblePack(repository.master, open);
    await repository.store.put(Keys.pack(pack.id), pack.bytes);
    written.push({ id: pack.id, size: pack.bytes.length, blobs: pack.locations });
    open = [];
    openBytes = 0;
  };
  for (const plan of plans) {
    const bytes = await repository.store.get(Keys.pack(plan.record.id));
    for (const blob of plan.keep) {
      const sealed = bytes.subarray(blob.offset, blob.offset + blob.length);
      const subject = parseSubjectScope(blob.scope);
      // A subject's blob is checked with the subject's key; every kept key is active (check passed).
      if (!subject || (await keys.lookup(subject.pseudonym, subject.keyId)) instanceof SubjectKey) {
        await repository.decodeBlob(plan.record.id, blob, sealed, keys);
      }
      open.push({ location: withoutOffset(blob), sealed: Buffer.from(sealed) });
      openBytes += sealed.length;
      if (openBytes >= DEFAULT_PACK_TARGET) await flush();
    }
  }
  await flush();
  return written;
}

/** A blob's place in its new pack is decided when that pack is assembled. */
function withoutOffset(blob: BlobLocation): Omit<BlobLocation, 'offset'> {
  return { id: blob.id, type: blob.type, scope: blob.scope, length: blob.length, rawLength: blob.rawLength, codec: blob.codec };
}

function estimateAfter(plans: PackPlan[]): number {
  return sum(plans.map((plan) => (plan.action === 'keep' ? plan.record.size : sum(plan.keep.map((blob) => blob.length)))));
}

function sum(values: number[]): number {
  return values.reduce((total, value) => total + value, 0);
}
