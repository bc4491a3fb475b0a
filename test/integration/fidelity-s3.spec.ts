import * as path from 'node:path';
import { backup, BackupResult, Repository, restore } from '../../src/engine';
import {
  buildFidelityTree,
  compareWalks,
  expectedRestore,
  FidelityTree,
  isRoot,
  socketProblemPaths,
  Walk,
  walkTree,
} from '../support/fidelity';
import { FAST_KDF } from '../support/repository';
import { useTempDirs } from '../support/temp-dirs';
import { s3Store, useBuckets } from './support/s3';

/**
 * The fidelity tree (test/engine/fidelity.spec.ts) with the repository on S3 (the S3Proxy of
 * `bash scripts/services.sh up`): what comes back through the object store is exactly what
 * went in. Meant to run as root, as CI does.
 */
const PASSPHRASE = 'correct horse battery staple';
const SLOW = 600_000; // The 2 GiB sparse file: fast when holes are skipped, slow when uploaded as zeros.

describe('fidelity through the S3 object store', () => {
  const tempDir = useTempDirs();
  const buckets = useBuckets();
  let tree: FidelityTree;
  let original: Walk;
  let backedUp: BackupResult;
  let bucket: string;
  let work: string;

  beforeAll(async () => {
    work = await tempDir('fidelity-s3');
    const source = path.join(work, 'source');
    tree = await buildFidelityTree(source);
    original = await walkTree(source);
    bucket = await buckets.create('fidelity');
    backedUp = await backup(await Repository.init(s3Store(bucket), PASSPHRASE, { kdfCost: FAST_KDF }), source);
  }, SLOW);

  it('builds every case as root', () => {
    if (isRoot) expect(tree.skipped).toEqual([]);
    else console.warn(`fidelity: not root, so these cases are not built or checked: ${tree.skipped.join('; ')}`);
    expect(original.size).toBeGreaterThan(40);
  });

  it(
    'restores the tree exactly from a fresh handle on the bucket, the root folder included',
    async () => {
      const target = path.join(work, 'restored');
      const result = await restore(await Repository.open(s3Store(bucket), PASSPHRASE), backedUp.snapshotId, target);
      expect(result.errors).toEqual([]);
      expect(result.metadataErrors).toEqual([]);
      expect(compareWalks(expectedRestore(original, tree), await walkTree(target))).toEqual([]);
    },
    SLOW,
  );

  it('keeps the problems (the sockets) in the snapshot on S3', async () => {
    const { snapshot } = await (await Repository.open(s3Store(bucket), PASSPHRASE)).resolveSnapshot(backedUp.snapshotId);
    const problems = (snapshot.problems ?? []).map((problem) => ({
      reason: problem.reason,
      path: 'path' in problem ? problem.path : '(sealed)',
    }));
    expect(problems.sort((a, b) => a.path.localeCompare(b.path))).toEqual(
      socketProblemPaths(tree).map((p) => ({ reason: 'socket', path: p })),
    );
  });
});
