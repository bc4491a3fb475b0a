import { promises as fs } from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { FsObjectStore, Repository, RepositoryKeyVault } from '../../src/engine';
import { keyVaultContract } from '../contract/key-vault.contract';
import { initRepository, openRepository } from '../support/repository';
import { useTempDirs } from '../support/temp-dirs';

describe('RepositoryKeyVault: subject keys kept in the repository', () => {
  const tempDir = useTempDirs();
  let repoPath: string;
  let repository: Repository;

  beforeAll(async () => {
    repoPath = path.join(await tempDir('key-vault'), 'repo');
    repository = await initRepository(repoPath);
  });

  keyVaultContract('RepositoryKeyVault', async () => new RepositoryKeyVault(repository.store, repository.master));

  const pseudonym = () => randomBytes(32).toString('hex');

  it('stores each key wrapped, under subject-keys/<pseudonym>/<key id>, readable after reopening', async () => {
    const subject = pseudonym();
    const created = await repository.keyVault.getOrCreate(subject);
    const object = await fs.readFile(path.join(repoPath, 'subject-keys', subject, created.keyId));
    expect(object.includes(created.key)).toBe(false);
    const reopened = await openRepository(repoPath);
    expect((await reopened.keyVault.get(subject))?.key.equals(created.key)).toBe(true);
  });

  it('shredding writes a plaintext tombstone and deletes the key object', async () => {
    const subject = pseudonym();
    const { keyId } = await repository.keyVault.getOrCreate(subject);
    await repository.keyVault.shred(subject);
    expect(await fs.readdir(path.join(repoPath, 'subject-keys', subject)).catch(() => [])).toEqual([]);
    const tombstone = JSON.parse(await fs.readFile(path.join(repoPath, 'subject-tombstones', subject, keyId), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(tombstone).toEqual({ version: 1, pseudonym: subject, keyId, shreddedAt: expect.any(String) });
  });

  it('a key object moved to another subject does not open (its associated data names the subject)', async () => {
    const [a, b] = [pseudonym(), pseudonym()];
    const { keyId } = await repository.keyVault.getOrCreate(a);
    await fs.mkdir(path.join(repoPath, 'subject-keys', b), { recursive: true });
    await fs.copyFile(path.join(repoPath, 'subject-keys', a, keyId), path.join(repoPath, 'subject-keys', b, keyId));
    await expect(repository.keyVault.get(b, keyId)).rejects.toMatchObject({ code: 'REPO_DAMAGED' });
  });

  it('after an interrupted shred (tombstone written, key object left) the key counts as shredded; shredding again deletes it', async () => {
    const subject = pseudonym();
    const { keyId } = await repository.keyVault.getOrCreate(subject);
    const tombstone = { version: 1, pseudonym: subject, keyId, shreddedAt: new Date().toISOString() };
    await repository.store.put(`subject-tombstones/${subject}/${keyId}`, Buffer.from(JSON.stringify(tombstone)));
    expect(await repository.keyVault.get(subject)).toBeNull();
    expect(await repository.keyVault.status(subject, keyId)).toBe('shredded');
    expect((await repository.keyVault.list()).find((key) => key.keyId === keyId)).toMatchObject({
      status: 'shredded',
      shredIncomplete: true,
    });
    expect(await repository.keyVault.shred(subject)).toEqual({ keysShredded: 0, status: 'shredded' });
    expect(await new FsObjectStore(repoPath).stat(`subject-keys/${subject}/${keyId}`)).toBeNull();
  });
});
