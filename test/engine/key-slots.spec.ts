import * as path from 'node:path';
import { EngineError, FsObjectStore, listKeySlots, removeKeySlot } from '../../src/engine';
import { createKeySlot } from '../../src/engine/repository/key-slots';
import { expectCliError, runCli, runCliOk } from '../support/cli';
import { FAST_KDF, initRepository, openRepository } from '../support/repository';
import { useTempDirs } from '../support/temp-dirs';

/**
 * Key slots: several passphrases open one repository; a passphrase can be added and removed
 * without touching data, but never the one in use or the last one.
 */
describe('key slots through the CLI', () => {
  const tempDir = useTempDirs();
  const first = 'first passphrase';
  const second = 'second passphrase';
  let repoPath: string;

  /**
   * `custodia key list` opens the repository and marks the slot that opened it with '*'.
   * (Slots added by `key add` use the default scrypt cost, about half a second per open.)
   */
  async function listSlots(passphrase: string): Promise<{ current: string; others: string[] }> {
    const { stdout } = await runCliOk(['key', 'list', '--repo', repoPath], { passphrase });
    const rows = stdout
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => ({ current: line.startsWith('*'), id: line.slice(2).split(/\s+/)[0] }));
    return { current: rows.find((row) => row.current)?.id ?? '', others: rows.filter((row) => !row.current).map((row) => row.id) };
  }

  beforeAll(async () => {
    repoPath = path.join(await tempDir('keys'), 'repo');
    await runCliOk(['repo', 'init', '--repo', repoPath, '--kdf-n', '1024'], { passphrase: first });
  });

  it('refuses to add an empty passphrase', async () => {
    const result = await runCli(['key', 'add', '--repo', repoPath], { passphrase: first, env: { CUSTODIA_NEW_PASSPHRASE: '' } });
    expectCliError(result, 'PASSPHRASE_MISSING', 1);
  });

  it('reports an unknown slot id as KEY_NOT_FOUND', async () => {
    expectCliError(await runCli(['key', 'remove', 'ffffffff', '--repo', repoPath], { passphrase: first }), 'KEY_NOT_FOUND', 1);
  });

  it('adds a second passphrase that opens the same repository', async () => {
    const added = await runCliOk(['key', 'add', '--repo', repoPath], { passphrase: first, env: { CUSTODIA_NEW_PASSPHRASE: second } });
    const addedId = /^added key slot ([0-9a-f]{8})$/m.exec(added.stdout)?.[1];
    expect(await listSlots(second)).toEqual({ current: addedId, others: [expect.stringMatching(/^[0-9a-f]{8}$/)] });
  });

  it('removes the first passphrase, which then no longer opens the repository', async () => {
    const firstSlot = (await listSlots(first)).current;
    await runCliOk(['key', 'remove', firstSlot, '--repo', repoPath], { passphrase: second });
    expectCliError(await runCli(['snapshots', '--repo', repoPath], { passphrase: first }), 'WRONG_PASSPHRASE', 12);
  });

  it('refuses to remove the slot in use, which is also the last one', async () => {
    const before = await listSlots(second);
    expect(before.others).toEqual([]);
    expectCliError(await runCli(['key', 'remove', before.current, '--repo', repoPath], { passphrase: second }), 'LAST_KEY', 1);
    expect(await new FsObjectStore(repoPath).list('keys/')).toHaveLength(1);
  });
});

describe('key slots in the library', () => {
  const tempDir = useTempDirs();

  it('refuses to remove the last slot even when it is not the one in use', async () => {
    const repoPath = path.join(await tempDir('last-key'), 'repo');
    const repository = await initRepository(repoPath, 'only');
    const store = new FsObjectStore(repoPath);
    const [only] = await listKeySlots(store);
    const removing = removeKeySlot(store, only.id, 'some-other-slot');
    await expect(removing).rejects.toBeInstanceOf(EngineError);
    await expect(removing).rejects.toMatchObject({ code: 'LAST_KEY' });
    expect(await listKeySlots(store)).toHaveLength(1);
    expect((await openRepository(repoPath, 'only')).keySlot.id).toBe(repository.keySlot.id);
  });

  it('opens with any slot and removes a slot that is not in use', async () => {
    const repoPath = path.join(await tempDir('two-keys'), 'repo');
    const repository = await initRepository(repoPath, 'one');
    const store = new FsObjectStore(repoPath);
    const added = await createKeySlot(store, repository.master, 'two', FAST_KDF);
    const viaTwo = await openRepository(repoPath, 'two');
    expect(viaTwo.keySlot.id).toBe(added.id);
    expect(viaTwo.config.id).toBe(repository.config.id);
    // An empty or too short prefix names no slot, rather than whichever slot comes first.
    for (const reference of ['', repository.keySlot.id.slice(0, 3)]) {
      await expect(removeKeySlot(store, reference, viaTwo.keySlot.id)).rejects.toMatchObject({ code: 'KEY_NOT_FOUND' });
    }
    expect(await listKeySlots(store)).toHaveLength(2);
    await removeKeySlot(store, repository.keySlot.id.slice(0, 8), viaTwo.keySlot.id);
    await expect(openRepository(repoPath, 'one')).rejects.toMatchObject({ code: 'WRONG_PASSPHRASE' });
    await expect(removeKeySlot(store, added.id, added.id)).rejects.toMatchObject({ code: 'LAST_KEY' });
  });
});
