import { promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { backup, check, forget, FsObjectStore, hmacPseudonymiser, prune, Repository, restore } from '../../src/engine';
import { parseSubjectScope } from '../../src/engine/repository/format';
import { DEFAULT_PASSPHRASE, expectCliError, runCli } from '../support/cli';
import { initRepository, listPackKeys, openRepository } from '../support/repository';
import { useTempDirs } from '../support/temp-dirs';
import { compareTrees, compressibleText, describeTree, dir, file, pseudoRandomBytes, writeTree } from '../support/tree';

const MiB = 1024 * 1024;

async function packBytes(repoPath: string): Promise<number> {
  let total = 0;
  for (const key of await listPackKeys(repoPath)) total += (await fs.stat(path.join(repoPath, key))).size;
  return total;
}

async function writeLock(repoPath: string, id: string, lock: Record<string, unknown>): Promise<void> {
  await fs.mkdir(path.join(repoPath, 'locks'), { recursive: true });
  await fs.writeFile(path.join(repoPath, 'locks', id), JSON.stringify(lock));
}

/**
 * Forget and prune: snapshots are removed, then the data nothing uses any more is deleted;
 * erased data subjects' blobs are removed for good. Nothing a remaining snapshot uses may go.
 */
describe('forget and prune', () => {
  const tempDir = useTempDirs();

  it('frees the data of a forgotten snapshot and keeps every other one whole', async () => {
    const work = await tempDir('prune');
    const repoPath = path.join(work, 'repo');
    const source = path.join(work, 'source');
    await writeTree(source, {
      'old-video.bin': file(pseudoRandomBytes('only in the first backup', 6 * MiB)),
      'kept.bin': file(pseudoRandomBytes('in both backups', 3 * MiB)),
      docs: dir({ 'letter.txt': file(compressibleText('a letter', 200_000)) }),
    });
    const repository = await initRepository(repoPath);
    const first = await backup(repository, source);
    await fs.rm(path.join(source, 'old-video.bin'));
    await fs.writeFile(path.join(source, 'docs', 'new.txt'), 'added later\n');
    const second = await backup(repository, source);
    const before = await packBytes(repoPath);

    expect(await forget(repository, [first.snapshotId.slice(0, 8)])).toEqual([first.snapshotId]);
    const dryRun = await prune(await openRepository(repoPath), { dryRun: true });
    expect(dryRun).toMatchObject({ dryRun: true, snapshots: 1 });
    expect(dryRun.blobs.removed).toBeGreaterThan(0);
    expect(await packBytes(repoPath)).toBe(before);

    const result = await prune(await openRepository(repoPath));
    expect(result.blobs.removed).toBe(dryRun.blobs.removed);
    expect(result.bytes.after).toBeLessThan(result.bytes.before - 5 * MiB);
    expect(await packBytes(repoPath)).toBe(result.bytes.after);

    const checked = await check(await openRepository(repoPath), { readData: true });
    expect(checked).toMatchObject({ ok: true, errors: [], snapshots: 1 });
    const target = path.join(work, 'restored');
    await restore(await openRepository(repoPath), second.snapshotId, target);
    expect(compareTrees(await describeTree(source), await describeTree(target))).toEqual([]);
    await expect(restore(await openRepository(repoPath), first.snapshotId, path.join(work, 'gone'))).rejects.toMatchObject({
      code: 'SNAPSHOT_NOT_FOUND',
    });

    // A second prune finds nothing to do and rewrites nothing.
    const indexFiles = await fs.readdir(path.join(repoPath, 'index'));
    const again = await prune(await openRepository(repoPath));
    expect(again.packs).toMatchObject({ deleted: 0, rewritten: 0 });
    expect(await fs.readdir(path.join(repoPath, 'index'))).toEqual(indexFiles);
  });

  it("removes an erased data subject's blobs for good, and nothing of anyone else", async () => {
    const work = await tempDir('prune-erased');
    const repoPath = path.join(work, 'repo');
    const source = path.join(work, 'source');
    const pseudonymise = hmacPseudonymiser('the pseudonym secret of the prune test');
    const subjects = { rules: ['customers/{subject}/**'], pseudonymise };
    const alice = pseudonymise('alice@example.com');
    await writeTree(source, {
      customers: dir({
        'alice@example.com': dir({ 'profile.json': file('{"name":"Alice"}'), 'scan.bin': file(pseudoRandomBytes('alice scan', 2 * MiB)) }),
        'bob@example.com': dir({ 'profile.json': file('{"name":"Bob"}') }),
      }),
      'handbook.txt': file(compressibleText('handbook', 100_000)),
    });
    const original = await describeTree(source);
    const repository = await initRepository(repoPath);
    const { snapshotId } = await backup(repository, source, { subjects });
    await repository.keyVault.shred(alice);

    const result = await prune(await openRepository(repoPath));
    expect(result.blobs.erasedRemoved).toBeGreaterThan(0);
    expect(result.blobs.removed).toBe(result.blobs.erasedRemoved);
    const reopened = await openRepository(repoPath);
    const scopes = reopened.index.allPacks().flatMap((pack) => pack.blobs.map((blob) => parseSubjectScope(blob.scope)?.pseudonym));
    expect(scopes).not.toContain(alice);

    const checked = await check(reopened, { readData: true });
    expect(checked).toMatchObject({ ok: true, shreddedBlobs: 0, shreddedSubjects: 1 });
    const target = path.join(work, 'restored');
    const restored = await restore(await openRepository(repoPath), snapshotId, target);
    expect(restored.skippedErased).toMatchObject({ files: 2, subjects: 1 });
    const expected = new Map([...original].filter(([name]) => !name.startsWith('customers/alice@example.com')));
    expect(compareTrees(expected, await describeTree(target))).toEqual([]);
  });

  it('changes nothing when check finds damage', async () => {
    const work = await tempDir('prune-damaged');
    const repoPath = path.join(work, 'repo');
    const source = path.join(work, 'source');
    await writeTree(source, { 'a.txt': file('alpha\n') });
    const repository = await initRepository(repoPath);
    const first = await backup(repository, source);
    await fs.writeFile(path.join(source, 'b.txt'), 'beta\n');
    await backup(repository, source);
    await forget(repository, [first.snapshotId]);
    const packs = await listPackKeys(repoPath);
    await fs.rm(path.join(repoPath, packs[packs.length - 1]));
    const remaining = await listPackKeys(repoPath);

    await expect(prune(await openRepository(repoPath))).rejects.toMatchObject({ code: 'PRUNE_REFUSED' });
    expect(await listPackKeys(repoPath)).toEqual(remaining);
  });

  it.each([2, 3, 4])('deletes nothing when listing %i of the snapshots leaves one out (an unreliable store)', async (flakyListing) => {
    const work = await tempDir('prune-flaky-listing');
    const repoPath = path.join(work, 'repo');
    const source = path.join(work, 'source');
    await writeTree(source, { 'a.bin': file(pseudoRandomBytes('first', MiB)) });
    const repository = await initRepository(repoPath);
    const first = await backup(repository, source);
    await fs.writeFile(path.join(source, 'a.bin'), pseudoRandomBytes('second', MiB));
    await backup(repository, source);
    await fs.writeFile(path.join(source, 'a.bin'), pseudoRandomBytes('third', MiB));
    await backup(repository, source);
    await forget(repository, [first.snapshotId]);
    const packs = await listPackKeys(repoPath);

    // The store leaves the oldest remaining snapshot out of one listing of snapshots/.
    const inner = new FsObjectStore(repoPath);
    let listings = 0;
    const flaky = Object.assign(Object.create(inner) as FsObjectStore, {
      list: async (prefix: string) => {
        const objects = await inner.list(prefix);
        if (prefix !== 'snapshots/' || ++listings !== flakyListing) return objects;
        return objects.slice(1);
      },
    });
    await expect(prune(await Repository.open(flaky, DEFAULT_PASSPHRASE))).rejects.toMatchObject({ code: 'PRUNE_REFUSED' });
    expect(listings).toBeGreaterThanOrEqual(flakyListing);
    expect(await listPackKeys(repoPath)).toEqual(expect.arrayContaining(packs));
    expect(await check(await openRepository(repoPath), { readData: true })).toMatchObject({ ok: true, snapshots: 2 });
  });

  it('waits its turn: no prune beside a running backup, no backup beside a prune; dead processes do not count', async () => {
    const work = await tempDir('prune-locks');
    const repoPath = path.join(work, 'repo');
    const source = path.join(work, 'source');
    await writeTree(source, { 'a.txt': file('alpha\n') });
    const repository = await initRepository(repoPath);
    await backup(repository, source);

    const shared = await repository.lock('shared');
    // The lock object is sealed: the storage shows neither the host nor the process.
    const [lockName] = await fs.readdir(path.join(repoPath, 'locks'));
    const sealed = await fs.readFile(path.join(repoPath, 'locks', lockName));
    // (Field names, not the host name itself: a host name of two letters turns up in random
    // ciphertext about once in 400 runs.)
    expect(() => JSON.parse(sealed.toString('utf8'))).toThrow();
    for (const field of ['"hostname"', `"pid":${process.pid}`, '"kind":"shared"']) expect(sealed.toString('latin1')).not.toContain(field);
    // ... and bound to its name: the same bytes under another id are unreadable, so refused.
    const copy = path.join(repoPath, 'locks', '5'.repeat(32));
    await fs.writeFile(copy, sealed);
    await expect(backup(await openRepository(repoPath), source)).rejects.toMatchObject({
      code: 'REPO_LOCKED',
      message: expect.stringContaining(`locks/${'5'.repeat(32)} in ${repoPath} cannot be read`),
    });
    await fs.rm(copy);
    await expect(prune(await openRepository(repoPath))).rejects.toMatchObject({ code: 'REPO_LOCKED' });
    await backup(repository, source); // shared locks do not exclude each other
    await shared.release();

    const exclusive = await repository.lock('exclusive');
    await expect(backup(repository, source)).rejects.toMatchObject({ code: 'REPO_LOCKED' });
    await expect(restore(repository, 'latest', path.join(work, 'never'))).rejects.toMatchObject({ code: 'REPO_LOCKED' });
    // A worker's handle waits instead, and runs once the prune has ended.
    repository.lockOptions = { waitMs: 10_000 };
    const waiting = backup(repository, source);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await exclusive.release();
    expect((await waiting).snapshotId).toMatch(/^[0-9a-f]{64}$/);
    repository.lockOptions = {};

    // A lock of a process gone from this host, and one not refreshed for an hour elsewhere.
    const now = new Date().toISOString();
    const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
    await writeLock(repoPath, '1'.repeat(32), {
      kind: 'exclusive',
      hostname: hostname(),
      pid: 2 ** 22 + 1,
      createdAt: now,
      refreshedAt: now,
    });
    await writeLock(repoPath, '2'.repeat(32), { kind: 'shared', hostname: 'elsewhere', pid: 1, createdAt: hourAgo, refreshedAt: hourAgo });
    await backup(repository, source);
    await prune(await openRepository(repoPath));
    expect(await fs.readdir(path.join(repoPath, 'locks'))).toEqual([]);
  });

  it('makes a long-lived repository handle forget the pruned index, so its next backup stores removed data again', async () => {
    const work = await tempDir('prune-worker');
    const repoPath = path.join(work, 'repo');
    const source = path.join(work, 'source');
    const content = pseudoRandomBytes('comes back later', 2 * MiB);
    await writeTree(source, { 'a.bin': file(content) });
    const worker = await initRepository(repoPath); // a worker's handle: index loaded once
    const first = await backup(worker, source);
    await fs.rm(path.join(source, 'a.bin'));
    await backup(worker, source);
    await forget(worker, [first.snapshotId]);
    expect((await prune(await openRepository(repoPath))).blobs.removed).toBeGreaterThan(0);

    // The worker's index still lists the removed blob; backing it up again must store it again.
    await fs.writeFile(path.join(source, 'a.bin'), content);
    const third = await backup(worker, source);
    expect(third.snapshot.statistics.newBytes).toBeGreaterThanOrEqual(content.length);
    expect(await check(await openRepository(repoPath), { readData: true })).toMatchObject({ ok: true });
    const target = path.join(work, 'restored');
    await restore(await openRepository(repoPath), third.snapshotId, target);
    expect(await fs.readFile(path.join(target, 'a.bin'))).toEqual(content);
  });

  it('on the command line: forget, prune --json, unlock; a held repository exits 11', async () => {
    const work = await tempDir('prune-cli');
    const repoPath = path.join(work, 'repo');
    const source = path.join(work, 'source');
    await writeTree(source, { 'a.txt': file('alpha\n') });
    const repository = await initRepository(repoPath);
    const { snapshotId } = await backup(repository, source);

    const forgotten = await runCli(['forget', snapshotId.slice(0, 8), '--repo', repoPath, '--json']);
    expect(forgotten.code).toBe(0);
    expect(JSON.parse(forgotten.stdout)).toEqual({ message_type: 'forgotten', snapshots: [snapshotId] });
    const pruned = await runCli(['prune', '--repo', repoPath, '--json']);
    expect(pruned.code).toBe(0);
    expect(JSON.parse(pruned.stdout)).toMatchObject({ message_type: 'summary', snapshots: 0, packs: { deleted: 1 } });
    expect(await listPackKeys(repoPath)).toEqual([]);

    const held = await repository.lock('shared');
    expectCliError(await runCli(['prune', '--repo', repoPath]), 'REPO_LOCKED', 11);
    await held.release();
    // --no-lock reads without a lock (read-only storage): it is not held up by a prune's lock.
    const pruning = await repository.lock('exclusive');
    expectCliError(await runCli(['check', '--repo', repoPath]), 'REPO_LOCKED', 11);
    expect((await runCli(['check', '--repo', repoPath, '--no-lock'])).code).toBe(0);
    await pruning.release();
    expect((await runCli(['prune', '--repo', repoPath, '--max-unused', '150'])).code).not.toBe(0);
    expectCliError(await runCli(['forget', 'ffffffff', '--repo', repoPath]), 'SNAPSHOT_NOT_FOUND', 1);

    await writeLock(repoPath, '3'.repeat(32), {
      kind: 'shared',
      hostname: 'elsewhere',
      pid: 1,
      createdAt: '',
      refreshedAt: new Date().toISOString(),
    });
    expect((await runCli(['unlock', '--repo', repoPath])).stdout).toContain('removed 0 lock(s)');
    expect((await runCli(['unlock', '--repo', repoPath, '--remove-all'])).stdout).toContain('removed 1 lock(s)');

    // A damaged lock (locks are written whole, so someone edited it): named, and unlock clears it.
    await fs.writeFile(path.join(repoPath, 'locks', '4'.repeat(32)), '{"kind": "exclu');
    const refused = expectCliError(await runCli(['check', '--repo', repoPath]), 'REPO_LOCKED', 11);
    expect(refused).toContain(`locks/${'4'.repeat(32)} in ${repoPath} cannot be read`);
    expect((await runCli(['unlock', '--repo', repoPath])).stdout).toContain('removed 1 lock(s)');
    expect((await runCli(['check', '--repo', repoPath])).code).toBe(0);
  });
});
