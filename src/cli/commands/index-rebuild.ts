import { Command } from 'commander';
import { rebuildIndex } from '../../engine';
import { openRepository, RepositoryFlags, withRepository } from '../repository-options';

/** Registers `custodia index rebuild`: rebuild the index from the packs alone. */
export function registerIndexCommands(program: Command): void {
  const index = program.command('index').description('maintain the repository index');
  withRepository(index.command('rebuild').description('rebuild the index from the pack files alone')).action(
    async (flags: RepositoryFlags) => {
      const repository = await openRepository(flags, { loadIndex: false });
      const result = await rebuildIndex(repository);
      for (const pack of result.unreadablePacks) {
        const kept = pack.keptFromOldIndex ? '; its blobs stay indexed from the old index' : '';
        console.error(`custodia: pack ${pack.pack} is unreadable (${pack.reason}); left in place${kept}`);
      }
      console.log(
        `index rebuilt: ${result.packs} pack(s), ${result.blobs} blob(s); replaced ${result.replacedIndexFiles} old index file(s)`,
      );
    },
  );
}
