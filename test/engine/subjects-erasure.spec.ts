import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { backup, check, findSubjectData, hmacPseudonymiser, Repository, restore, TreeEntry } from '../../src/engine';
import { isSealedEntry, openSealedEntry } from '../../src/engine/subjects/sealed-entry';
import { initRepository, openRepository } from '../support/repository';
import { useTempDirs } from '../support/temp-dirs';
import { compareTrees, compressibleText, describeTree, dir, EntryState, file, pseudoRandomBytes, writeTree } from '../support/tree';

/**
 * GDPR erasure reaching immutable, deduplicated backups: data subjects' files are stored under
 * their own keys with their names sealed, so destroying one key (crypto-shredding) makes that
 * subject's data unreadable in every backup, while everything else restores as before.
 */
describe('data subjects: per-subject keys and crypto-shredding', () => {
  const tempDir = useTempDirs();
  const pseudonymise = hmacPseudonymiser('the pseudonym secret of this test');
  const subjects = { rules: ['customers/{subject}/**', 'invoices/{subject}.pdf'], pseudonymise };
  const ALICE = 'alice@example.com';
  const BOB = 'bob@example.com';
  const alice = pseudonymise(ALICE);
  const bob = pseudonymise(BOB);
  const shared = pseudoRandomBytes('shared by two subjects', 1500);
  let work: string;
  let source: string;
  let repoPath: string;
  /** Every backup taken, with the source as it was then. */
  const backups: { id: string; tree: string; expected: Map<string, EntryState> }[] = [];

  const isAlices = (relativePath: string) =>
    relativePath === `customers/${ALICE}` || relativePath.startsWith(`customers/${ALICE}/`) || relativePath === `invoices/${ALICE}.pdf`;
  const isBobs = (relativePath: string) =>
    relativePath === `customers/${BOB}` || relativePath.startsWith(`customers/${BOB}/`) || relativePath === `invoices/${BOB}.pdf`;
  const filesOf = (expected: Map<string, EntryState>, belongs: (relativePath: string) => boolean) => {
    const files = [...expected].filter(([name, state]) => belongs(name) && state.type === 'file');
    return { files: files.length, bytes: files.reduce((sum, [, state]) => sum + (state.size ?? 0), 0) };
  };
  const without = (expected: Map<string, EntryState>, belongs: (relativePath: string) => boolean) =>
    new Map([...expected].filter(([name]) => !belongs(name)));

  async function takeBackup(): Promise<Awaited<ReturnType<typeof backup>>> {
    const result = await backup(await openRepository(repoPath), source, { subjects });
    expect(result.errors).toEqual([]);
    backups.push({ id: result.snapshotId, tree: result.snapshot.tree, expected: await describeTree(source) });
    return result;
  }

  /** The real entries a subject's sealed entries hold in one folder of a snapshot, opened with the subject key. */
  async function openedEntries(repository: Repository, treeId: string, folder: string): Promise<Map<string, TreeEntry>> {
    const keys = repository.subjectKeys();
    const root = await repository.readTree(treeId);
    const parent = root.entries.find((entry) => !isSealedEntry(entry) && entry.name === folder);
    if (parent?.type !== 'dir') throw new Error(`${folder} is not a folder of the snapshot`);
    const opened = new Map<string, TreeEntry>();
    for (const entry of (await repository.readTree(parent.subtree)).entries) {
      if (!isSealedEntry(entry)) continue;
      const result = await openSealedEntry(keys, entry);
      if (result.status === 'open') opened.set(result.entry.name, result.entry);
    }
    return opened;
  }

  async function contentOf(repository: Repository, treeId: string, owner: string, file: string): Promise<string[]> {
    const folder = (await openedEntries(repository, treeId, 'customers')).get(owner);
    if (folder?.type !== 'dir') throw new Error(`no folder of ${owner}`);
    const entry = (await repository.readTree(folder.subtree, repository.subjectKeys())).entries.find(
      (candidate) => !isSealedEntry(candidate) && candidate.name === file,
    );
    if (entry?.type !== 'file') throw new Error(`no ${file} in the folder of ${owner}`);
    return entry.content;
  }

  beforeAll(async () => {
    work = await tempDir('subjects');
    source = path.join(work, 'source');
    repoPath = path.join(work, 'repo');
    await initRepository(repoPath);
    await writeTree(source, {
      customers: dir({
        [ALICE]: dir({
          'profile.json': file(compressibleText('profile of the first subject', 1200)),
          orders: dir({ '2024.csv': file(compressibleText('orders 2024', 2500)) }),
          'shared.bin': file(shared),
        }),
        [BOB]: dir({
          'profile.json': file(compressibleText('profile of the second subject', 900)),
          'shared.bin': file(shared),
        }),
      }),
      invoices: dir({
        [`${ALICE}.pdf`]: file(pseudoRandomBytes('invoice 1', 400)),
        [`${BOB}.pdf`]: file(pseudoRandomBytes('invoice 2', 300)),
        'index.txt': file('two invoices\n'),
      }),
      public: dir({ 'readme.md': file(compressibleText('readme', 700)), 'shared.bin': file(shared) }),
    });
    await takeBackup();

    // Second backup: a new file of one subject, a changed file of the other, a new unruled file.
    await writeTree(source, {
      customers: dir({
        [ALICE]: dir({ orders: dir({ '2025.csv': file(compressibleText('orders 2025', 1800)) }) }),
        [BOB]: dir({ 'profile.json': file(compressibleText('profile of the second subject, updated', 1000)) }),
      }),
      public: dir({ 'news.md': file(compressibleText('news', 600)) }),
    });
    const second = await takeBackup();
    // Unchanged files, a subject's as much as anyone's, are not read again.
    expect(second.snapshot.statistics).toMatchObject({ filesRead: 3, bytesRead: 1800 + 1000 + 600, subjects: 2 });

    // Third backup: a subject's file removed, a subject's folder grows, an unruled file changes.
    await fs.rm(path.join(source, 'customers', ALICE, 'orders', '2024.csv'));
    await writeTree(source, {
      customers: dir({ [BOB]: dir({ letters: dir({ '1.txt': file('a letter\n') }) }) }),
      public: dir({ 'readme.md': file(compressibleText('readme, second edition', 750)) }),
    });
    await takeBackup();
  });

  it('records the rules in the snapshot and seals the subjects entries: no name is readable without the key', async () => {
    const repository = await openRepository(repoPath);
    const { snapshot } = await repository.resolveSnapshot(backups[0].id);
    expect(snapshot.subjectRules).toEqual(subjects.rules);
    const customers = (await repository.readTree(snapshot.tree)).entries.find(
      (entry) => !isSealedEntry(entry) && entry.name === 'customers',
    );
    if (customers?.type !== 'dir') throw new Error('customers is not a folder');
    const sealed = (await repository.readTree(customers.subtree)).entries;
    expect(sealed.every(isSealedEntry)).toBe(true);
    expect(sealed.map((entry) => (isSealedEntry(entry) ? entry.subject : '')).sort()).toEqual([alice, bob].sort());
    expect(sealed.find((entry) => isSealedEntry(entry) && entry.subject === alice)).toMatchObject({
      files: 3,
      bytes: 1200 + 2500 + shared.length,
    });
    expect([...(await openedEntries(repository, snapshot.tree, 'customers')).keys()].sort()).toEqual([ALICE, BOB]);
    expect([...(await openedEntries(repository, snapshot.tree, 'invoices')).keys()].sort()).toEqual([`${ALICE}.pdf`, `${BOB}.pdf`]);
  });

  it('stores identical content of two subjects twice, and apart from the unruled copy: no cross-subject deduplication', async () => {
    const repository = await openRepository(repoPath);
    const tree = backups[0].tree;
    const [ofAlice, ofBob] = [await contentOf(repository, tree, ALICE, 'shared.bin'), await contentOf(repository, tree, BOB, 'shared.bin')];
    const publicEntries = await repository.readTree(
      ((await repository.readTree(tree)).entries.find((entry) => !isSealedEntry(entry) && entry.name === 'public') as { subtree: string })
        .subtree,
    );
    const unruled = publicEntries.entries.find((entry) => !isSealedEntry(entry) && entry.name === 'shared.bin');
    if (unruled?.type !== 'file') throw new Error('public/shared.bin missing');
    expect(ofAlice).toHaveLength(1);
    expect(new Set([ofAlice[0], ofBob[0], unruled.content[0]]).size).toBe(3);
    const scopes = [ofAlice[0], ofBob[0], unruled.content[0]].map((id) => repository.index.lookup(id)?.location.scope);
    expect(scopes[0]).toMatch(new RegExp(`^subject:${alice}:[0-9a-f]{32}$`));
    expect(scopes[1]).toMatch(new RegExp(`^subject:${bob}:[0-9a-f]{32}$`));
    expect(scopes[2]).toBe('repo');
  });

  it('an incremental backup of an unchanged tree reads 0 bytes and keeps the same tree (sealed entries reused)', async () => {
    const before = backups.at(-1);
    const result = await takeBackup();
    expect(result.snapshot.statistics).toMatchObject({ filesRead: 0, bytesRead: 0, newBytes: 0, newChunks: 0 });
    expect(result.snapshot.tree).toBe(before?.tree);
    expect(result.snapshot.merkleRoot).toBe(before?.tree);
  });

  it('leaves no subject name in any repository object or object name', async () => {
    // Plaintext objects (config, key slots, tombstones) and every object's name must not hold
    // any part of a name. Encrypted objects are random bytes: a 3-byte string such as "bob"
    // occurs in them by chance (once in 16 MiB), so they are searched for the longer needles.
    const everywhere = ['alice', 'bob@', 'example.com'];
    const inPlaintext = [...everywhere, 'bob'];
    const objects = (await fs.readdir(repoPath, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile());
    expect(objects.length).toBeGreaterThan(10);
    for (const object of objects) {
      const relative = path.relative(repoPath, path.join(object.parentPath, object.name));
      let bytes = await fs.readFile(path.join(repoPath, relative));
      const plaintext = relative === 'config' || relative.startsWith('keys/') || relative.startsWith('subject-tombstones/');
      if (relative.startsWith('keys/')) {
        // A key slot's salt and wrapped key are random base64, where "bob" occurs by chance.
        const slot = JSON.parse(bytes.toString('utf8')) as { kdf: { salt: string }; wrappedMasterKey: string };
        bytes = Buffer.from(JSON.stringify({ ...slot, kdf: { ...slot.kdf, salt: '' }, wrappedMasterKey: '' }));
      }
      for (const needle of plaintext ? inPlaintext : everywhere) {
        expect({ object: relative, found: bytes.includes(Buffer.from(needle)) }).toEqual({ object: relative, found: false });
      }
      for (const needle of inPlaintext)
        expect({ name: relative, found: relative.includes(needle) }).toEqual({ name: relative, found: false });
    }
  });

  it("finds a subject's data in every backup by counts alone, without the key", async () => {
    const repository = await openRepository(repoPath);
    const found = await findSubjectData(repository, alice);
    expect(found.status).toBe('active');
    expect(found.errors).toEqual([]);
    expect(found.snapshots.map((data) => data.snapshotId)).toEqual(backups.map((b) => b.id));
    for (const [i, data] of found.snapshots.entries()) {
      expect(data).toMatchObject({ entries: 2, ...filesOf(backups[i].expected, isAlices) });
    }
    expect((await findSubjectData(repository, pseudonymise('carol@example.com'))).snapshots).toEqual([]);
  });

  it("restores only one subject's files for an access request", async () => {
    const target = path.join(work, 'bob-only');
    const result = await restore(await openRepository(repoPath), backups[2].id, target, { onlySubject: bob });
    expect(result.errors).toEqual([]);
    const expected = backups[2].expected;
    const bobs = new Map([...expected].filter(([name]) => isBobs(name) || name === 'customers' || name === 'invoices'));
    expect(compareTrees(bobs, await describeTree(target))).toEqual([]);
    expect(result).toMatchObject({ ...filesOf(expected, isBobs), skippedErased: { entries: 0, files: 0, bytes: 0, subjects: 0 } });
  });

  it('shreds a subject; shredding again is a no-op', async () => {
    const repository = await openRepository(repoPath);
    expect(await repository.keyVault.shred(alice)).toEqual({ keysShredded: 1, status: 'shredded' });
    expect(await repository.keyVault.shred(alice)).toEqual({ keysShredded: 0, status: 'shredded' });
    expect(await repository.keyVault.status(alice)).toBe('shredded');
    expect(await repository.keyVault.status(bob)).toBe('active');
  });

  it('every backup restores without the erased subject, says how much it skipped, and restores the rest byte for byte', async () => {
    for (const [i, { id, expected }] of backups.entries()) {
      const target = path.join(work, `restored-${i}`);
      const result = await restore(await openRepository(repoPath), id, target);
      expect(result.errors).toEqual([]);
      expect(result.skippedErased).toEqual({ entries: 2, ...filesOf(expected, isAlices), subjects: 1 });
      expect(compareTrees(without(expected, isAlices), await describeTree(target))).toEqual([]);
    }
  });

  it('--include reaches into a subject folder by its real name; a path inside erased data is reported as possibly erased', async () => {
    const repository = await openRepository(repoPath);
    const target = path.join(work, 'include-bob');
    const result = await restore(repository, backups[0].id, target, { include: [`customers/${BOB}/profile.json`] });
    expect(result).toMatchObject({ files: 1, errors: [], skippedErased: { entries: 0 } });
    await expect(
      restore(repository, backups[0].id, path.join(work, 'include-alice'), { include: [`customers/${ALICE}`] }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('erased subject') });
  });

  it("an erased subject's access request finds counts but restores nothing", async () => {
    const repository = await openRepository(repoPath);
    const found = await findSubjectData(repository, alice);
    expect(found.status).toBe('shredded');
    expect(found.snapshots).toHaveLength(backups.length);
    const result = await restore(repository, backups[0].id, path.join(work, 'alice-only'), { onlySubject: alice });
    expect(result).toMatchObject({
      files: 0,
      errors: [],
      skippedErased: { entries: 2, ...filesOf(backups[0].expected, isAlices), subjects: 1 },
    });
    expect(await fs.readdir(path.join(work, 'alice-only'))).toEqual([]);
  });

  it('with the master key alone, no blob, index or snapshot reveals a subject name', async () => {
    // Everything the repository key opens: the repository scope's blobs (trees and content),
    // pack headers and index files (blob lists), snapshots. Subject scopes need subject keys.
    const repository = await openRepository(repoPath);
    const opened: Buffer[] = [];
    for (const pack of repository.index.allPacks()) {
      for (const blob of pack.blobs) if (blob.scope === 'repo') opened.push(withoutSealedBoxes(await repository.readBlob(blob.id)));
    }
    expect(opened.length).toBeGreaterThan(10);
    opened.push(Buffer.from(JSON.stringify(repository.index.allPacks())));
    for (const { snapshot } of await repository.listSnapshots()) opened.push(Buffer.from(JSON.stringify(snapshot)));
    for (const plaintext of opened) {
      for (const needle of ['alice', 'bob', 'example.com']) expect(plaintext.includes(needle)).toBe(false);
    }
  });

  it('check --read-data passes and reports the erased subject, not damage', async () => {
    const result = await check(await openRepository(repoPath), { readData: true });
    expect(result.errors).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result).toMatchObject({ activeSubjects: 1, shreddedSubjects: 1, shreddedEntries: 2 * backups.length });
    expect(result.shreddedBlobs).toBeGreaterThan(0);
    expect(result.packsRead).toBe(result.packs);
    expect(result.blobsRead + result.shreddedBlobs).toBe(result.blobs);
  });

  it('a subject erased before whose files are in the source again is backed up under a new key; old backups stay erased', async () => {
    const result = await takeBackup();
    expect(result.warnings.join('\n')).toContain(alice);
    const repository = await openRepository(repoPath);
    const data = await findSubjectData(repository, alice);
    const [oldKey, newKey] = [data.snapshots[0].keyIds, data.snapshots.at(-1)?.keyIds];
    expect(newKey).toHaveLength(1);
    expect(oldKey).not.toEqual(newKey);
    const restored = await restore(repository, result.snapshotId, path.join(work, 'restored-again'));
    expect(restored.skippedErased.entries).toBe(0);
    expect(compareTrees(backups.at(-1)?.expected ?? new Map(), await describeTree(path.join(work, 'restored-again')))).toEqual([]);
    const old = await restore(repository, backups[0].id, path.join(work, 'restored-old-again'));
    expect(old.skippedErased).toMatchObject({ entries: 2, subjects: 1 });
    expect((await check(repository, { readData: true })).ok).toBe(true);
  });

  it('an operation that holds a key finishes with it after a shred; the next one finds the key gone', async () => {
    const repository = await openRepository(repoPath);
    const [profile] = await contentOf(repository, backups.at(-1)?.tree ?? '', ALICE, 'profile.json');
    const keys = repository.subjectKeys();
    await repository.readBlob(profile, keys);
    await repository.keyVault.shred(alice);
    expect((await repository.readBlob(profile, keys)).length).toBe(1200);
    await expect(repository.readBlob(profile)).rejects.toMatchObject({ code: 'SUBJECT_ERASED' });
  });

  it('a subject key missing without a tombstone is reported as damage by check and restore', async () => {
    const keyDir = path.join(repoPath, 'subject-keys', bob);
    const [keyId] = await fs.readdir(keyDir);
    await fs.rm(path.join(keyDir, keyId));
    const repository = await openRepository(repoPath);
    const result = await check(repository);
    expect(result.ok).toBe(false);
    const missing = result.errors.filter((problem) => problem.kind === 'subject-key-missing');
    expect(missing).toHaveLength(1);
    expect(missing[0].object).toBe(`subject-keys/${bob}/${keyId}`);
    expect(missing[0].message).toContain('lost, not erased');
    expect(missing[0].affected?.map((affected) => affected.snapshot).sort()).toEqual(backups.map((b) => b.id).sort());
    expect(result.shreddedSubjects).toBe(1);

    const restored = await restore(repository, backups[0].id, path.join(work, 'restored-without-bob-key'));
    expect(restored.errors).toHaveLength(2);
    expect(restored.errors[0].message).toContain('no tombstone');
    expect(restored.skippedErased).toMatchObject({ entries: 2, subjects: 1 });
  });
});

/**
 * A tree blob with each sealed entry's box (base64 of an AEAD box: random bytes, where a 3-byte
 * string such as "bob" occurs by chance, about once per 260 kB) emptied; any other blob as it is.
 */
function withoutSealedBoxes(plaintext: Buffer): Buffer {
  let tree: { entries?: unknown };
  try {
    tree = JSON.parse(plaintext.toString('utf8')) as { entries?: unknown };
  } catch {
    return plaintext;
  }
  if (!Array.isArray(tree.entries)) return plaintext;
  const entries = tree.entries.map((entry: { type?: string; box?: string }) => (entry.type === 'sealed' ? { ...entry, box: '' } : entry));
  return Buffer.from(JSON.stringify({ ...tree, entries }));
}
