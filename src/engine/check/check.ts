import { EngineError } from '../errors';
import { Keys } from '../repository/format';
import { isRepositoryObjectName, packIdOf } from '../repository/object-names';
import { Repository, StoredSnapshot } from '../repository/repository';
import { planRestore } from '../restore/plan';
import { SubjectKeyRing } from '../subjects/key-ring';
import { CheckOptions, CheckResult } from './check-types';
import { checkSubjectKeys, countSubjectBlobs, MissingKeys } from './subject-checks';
import { fetchPack, readPack, unwrapFetched } from './read-pack';
import { ReferenceMap } from './reference-map';

export type { CheckOptions, CheckProblem, CheckResult } from './check-types';

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
