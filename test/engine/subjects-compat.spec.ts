import * as path from 'node:path';
import { backup, check, hmacPseudonymiser, restore } from '../../src/engine';
import { isSealedEntry } from '../../src/engine/subjects/sealed-entry';
import { flipByte, initRepository, locateBlob, openRepository } from '../support/repository';
import { useTempDirs } from '../support/temp-dirs';
import { compareTrees, describeTree, dir, file, writeTree } from '../support/tree';

/**
 * Subject rules added to, or dropped from, the backups of a source whose snapshots were taken
 * otherwise: files never move between key scopes silently, and dropping the rules is flagged.
 */
describe('data subjects: snapshots with and without subject rules side by side', () => {
  const tempDir = useTempDirs();
  const pseudonymise = hmacPseudonymiser('secret for the compatibility test');
  const subjects = { rules: ['customers/{subject}/**'], pseudonymise };
  let work: string;
  let source: string;
  let repoPath: string;

  beforeAll(async () => {
    work = await tempDir('subjects-compat');
    source = path.join(work, 'source');
    repoPath = path.join(work, 'repo');
    await initRepository(repoPath);
    await writeTree(source, {
      customers: dir({ 'alice@example.com': dir({ 'a.txt': file('alice data\n'), 'b.txt': file('more\n') }) }),
      'plain.txt': file('not personal\n'),
    });
  });

  it('a backup with rules after one without re-reads only the subjects files, into their scope', async () => {
    const plain = await backup(await openRepository(repoPath), source);
    expect(plain.snapshot.subjectRules).toBeUndefined();
    expect(plain.snapshot.statistics.subjects).toBeUndefined();
    const ruled = await backup(await openRepository(repoPath), source, { subjects });
    expect(ruled.parent).toBe(plain.snapshotId);
    expect(ruled.snapshot.statistics).toMatchObject({ filesRead: 2, filesUnchanged: 1, subjects: 1 });
    const repository = await openRepository(repoPath);
    const root = await repository.readTree(ruled.snapshot.tree);
    const customers = root.entries.find((entry) => !isSealedEntry(entry) && entry.name === 'customers');
    if (customers?.type !== 'dir') throw new Error('customers missing');
    expect((await repository.readTree(customers.subtree)).entries).toEqual([
      expect.objectContaining({ type: 'sealed', files: 2, bytes: 16 }),
    ]);
  });

  it('a backup without rules after one with them re-reads those files and warns', async () => {
    const result = await backup(await openRepository(repoPath), source);
    expect(result.snapshot.statistics).toMatchObject({ filesRead: 2, filesUnchanged: 1 });
    expect(result.warnings).toHaveLength(1);
    expect(result.warnings[0]).toContain('customers/{subject}/**');
    expect(result.warnings[0]).not.toContain('alice');
  });

  it('every snapshot restores and checks; only the ruled one is reached by an erasure', async () => {
    const repository = await openRepository(repoPath);
    const expected = await describeTree(source);
    const snapshots = await repository.listSnapshots();
    expect((await check(repository, { readData: true })).ok).toBe(true);
    await repository.keyVault.shred(pseudonymise('alice@example.com'));
    for (const [i, { id }] of snapshots.entries()) {
      const target = path.join(work, `restored-${i}`);
      const result = await restore(await openRepository(repoPath), id, target);
      expect(result.errors).toEqual([]);
      const erased = i === 1;
      expect(result.skippedErased.files).toBe(erased ? 2 : 0);
      const want = erased ? new Map([...expected].filter(([name]) => !name.startsWith('customers/'))) : expected;
      expect(compareTrees(want, await describeTree(target))).toEqual([]);
    }
    expect(await check(await openRepository(repoPath), { readData: true })).toMatchObject({
      ok: true,
      shreddedSubjects: 1,
      shreddedEntries: 1,
    });
  });

  it("read-data cannot decrypt an erased subject's blobs, yet still detects damage to them through the pack's SHA-256", async () => {
    const repository = await openRepository(repoPath);
    const erased = repository.index
      .allPacks()
      .flatMap((pack) => pack.blobs)
      .find((blob) => blob.scope.startsWith('subject:') && blob.type === 'data');
    if (!erased) throw new Error('no blob of the erased subject');
    const where = locateBlob(repository, repoPath, erased.id);
    await flipByte(where.file, where.offset + Math.floor(where.length / 2));
    const structure = await check(await openRepository(repoPath));
    expect(structure.ok).toBe(true);
    const result = await check(await openRepository(repoPath), { readData: true });
    expect(result.ok).toBe(false);
    expect(result.errors).toEqual([
      expect.objectContaining({ kind: 'pack-damaged', object: where.key, message: expect.stringContaining('does not match its name') }),
    ]);
  });
});
