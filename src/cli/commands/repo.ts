import { Command, InvalidArgumentError } from 'commander';
import { Repository } from '../../engine';
import { printJson } from '../output';
import { prepareRepositoryLocation, readPassphrase, RepositoryFlags, repositoryStore, withRepository } from '../repository-options';

function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 2) throw new InvalidArgumentError('expected an integer of at least 2');
  return n;
}

/** Registers the `repo` commands: create a repository. */
export function registerRepoCommands(program: Command): void {
  const repo = program.command('repo').description('create and inspect repositories');
  withRepository(repo.command('init').description('create a new encrypted repository'))
    .option('--kdf-n <N>', 'scrypt cost parameter N (a power of two; default 131072)', parsePositiveInt)
    .option('--json', 'print the result as JSON')
    .action(async (flags: RepositoryFlags & { kdfN?: number; json?: boolean }) => {
      const store = repositoryStore(flags);
      const passphrase = readPassphrase(flags.passphraseFile);
      await prepareRepositoryLocation(store);
      const repository = await Repository.init(store, passphrase, {
        kdfCost: flags.kdfN ? { N: flags.kdfN, r: 8, p: 1 } : undefined,
      });
      if (flags.json) printJson({ message_type: 'initialized', id: repository.config.id, repository: store.location });
      else console.log(`created repository ${repository.config.id} at ${store.location}`);
    });
}
