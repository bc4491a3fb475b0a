import { Command } from 'commander';
import { createKeySlot, listKeySlots, removeKeySlot } from '../../engine';
import { openRepository, readPassphrase, RepositoryFlags, withRepository } from '../repository-options';

/** Registers the `key` commands: the passphrases (key slots) that open a repository. */
export function registerKeyCommands(program: Command): void {
  const key = program.command('key').description('manage the passphrases (key slots) that open a repository');
  withRepository(key.command('list').description('list key slots')).action(async (flags: RepositoryFlags) => {
    const repository = await openRepository(flags, { loadIndex: false });
    for (const slot of await listKeySlots(repository.store)) {
      const current = slot.id === repository.keySlot.id ? '*' : ' ';
      console.log(`${current} ${slot.id.slice(0, 8)}  ${slot.createdAt}  ${slot.hostname}  scrypt N=${slot.kdf.N}`);
    }
  });
  withRepository(
    key.command('add').description('add a passphrase; the new one is read from CUSTODIA_NEW_PASSPHRASE or --new-passphrase-file'),
  )
    .option('--new-passphrase-file <file>', 'file holding the new passphrase')
    .action(async (flags: RepositoryFlags & { newPassphraseFile?: string }) => {
      const repository = await openRepository(flags, { loadIndex: false });
      const slot = await createKeySlot(
        repository.store,
        repository.master,
        readPassphrase(flags.newPassphraseFile, 'CUSTODIA_NEW_PASSPHRASE'),
      );
      console.log(`added key slot ${slot.id.slice(0, 8)}`);
    });
  withRepository(key.command('remove').description('remove a key slot (not the one in use, never the last)'))
    .argument('<id>', 'key slot id or prefix')
    .action(async (id: string, flags: RepositoryFlags) => {
      const repository = await openRepository(flags, { loadIndex: false });
      await removeKeySlot(repository.store, id, repository.keySlot.id);
      console.log(`removed key slot ${id}`);
    });
}
