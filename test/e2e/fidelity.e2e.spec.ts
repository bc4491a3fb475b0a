import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FsObjectStore, Repository } from '../../src/engine';
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
import { removeTree } from '../support/temp-dirs';
import { startApp, TestApp, waitForStatus } from './embedded-app';

/**
 * The fidelity tree (test/engine/fidelity.spec.ts) through the service: registered as a
 * source, backed up by a backup job and restored by a restore job over HTTP, the worker
 * running the engine. What the restore job writes is exactly what the source held, but the
 * sockets. Meant to run as root, as CI does.
 */
const SLOW = 600_000; // The 2 GiB sparse file: fast when holes are skipped, slow when read.

describe('fidelity through the service: backup and restore jobs', () => {
  let base: string;
  let service: TestApp;
  let tree: FidelityTree;
  let original: Walk;
  let backupJob: Record<string, unknown> & { status: string };

  beforeAll(async () => {
    base = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-fidelity-e2e-'));
    const source = path.join(base, 'source');
    tree = await buildFidelityTree(source);
    original = await walkTree(source);
    await fs.mkdir(path.join(base, 'data'));
    service = await startApp(
      { SOURCE_ROOTS: source, RESTORE_ROOTS: path.join(base, 'restores'), REPOSITORY: path.join(base, 'repo') },
      path.join(base, 'data'),
    );
    const registered = await service.http().post('/sources').send({ name: 'fidelity', path: source }).expect(201);
    const requested = await service.http().post('/backups').send({ sourceId: registered.body.id, type: 'full' }).expect(202);
    backupJob = await waitForStatus(service.http, `/backups/${requested.body.id}`, undefined, SLOW);
  }, SLOW);

  afterAll(async () => {
    await service?.close();
    if (base) await removeTree(base);
  });

  it('builds every case as root', () => {
    if (isRoot) expect(tree.skipped).toEqual([]);
    else console.warn(`fidelity: not root, so these cases are not built or checked: ${tree.skipped.join('; ')}`);
    expect(original.size).toBeGreaterThan(40);
  });

  it('completes the backup job, keeping the sockets in its snapshot as problems', async () => {
    expect(backupJob).toMatchObject({ status: 'completed', snapshotId: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const repository = await Repository.open(new FsObjectStore(path.join(base, 'repo')), 'e2e-passphrase');
    const { snapshot } = await repository.resolveSnapshot(backupJob.snapshotId as string);
    const problems = (snapshot.problems ?? []).map((problem) => ({
      reason: problem.reason,
      path: 'path' in problem ? problem.path : '(sealed)',
    }));
    expect(problems.sort((a, b) => a.path.localeCompare(b.path))).toEqual(
      socketProblemPaths(tree).map((p) => ({ reason: 'socket', path: p })),
    );
  });

  it(
    'restores exactly what was backed up through a restore job, the target folder taking the source root’s metadata',
    async () => {
      const target = path.join(service.config.restoreRoots[0], 'fidelity');
      const requested = await service.http().post('/restores').send({ backupId: backupJob.id, target }).expect(202);
      const restored = await waitForStatus(service.http, `/restores/${requested.body.id}`, undefined, SLOW);
      expect(restored).toMatchObject({ status: 'completed', backupId: backupJob.id, target });
      expect(compareWalks(expectedRestore(original, tree), await walkTree(target))).toEqual([]);
    },
    SLOW,
  );
});
