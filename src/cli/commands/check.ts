import { Command, InvalidArgumentError } from 'commander';
import { check, EngineError } from '../../engine';
import { printJson } from '../output';
import { openRepository, RepositoryFlags, withRepository } from '../repository-options';
import { exitWith } from './shared';

function parseSubset(value: string): { n: number; m: number } {
  const match = /^(\d+)\/(\d+)$/.exec(value);
  const n = Number(match?.[1]);
  const m = Number(match?.[2]);
  if (!match || n < 1 || m < 1 || n > m) throw new InvalidArgumentError('expected n/m with 1 <= n <= m, e.g. 2/5');
  return { n, m };
}

/** Registers `custodia check`: the repository's structure, and optionally its data. */
export function registerCheckCommand(program: Command): void {
  withRepository(program.command('check').description('check the repository structure, and optionally read all data'))
    .option('--read-data', 'decrypt and verify every blob')
    .option('--read-data-subset <n/m>', 'decrypt and verify the n-th of m slices of the packs', parseSubset)
    .option('--json', 'print the result as JSON')
    .option('--no-lock', 'take no repository lock (read-only storage); a prune running meanwhile can make it fail')
    .action(
      async (flags: RepositoryFlags & { readData?: boolean; readDataSubset?: { n: number; m: number }; json?: boolean; lock: boolean }) => {
        if (flags.readData && flags.readDataSubset) {
          throw new EngineError('INVALID_ARGUMENT', '--read-data and --read-data-subset exclude each other');
        }
        const repository = await openRepository(flags, { loadIndex: false });
        repository.lockOptions = { none: !flags.lock };
        const result = await check(repository, { readData: flags.readData, readDataSubset: flags.readDataSubset });
        if (flags.json) {
          printJson({ message_type: 'summary', ...result });
        } else {
          for (const warning of result.warnings) console.log(`warning: ${warning}`);
          for (const problem of result.errors) {
            console.error(`error: ${problem.message}`);
            for (const affected of problem.affected ?? []) {
              console.error(
                `  affects snapshot ${affected.snapshot.slice(0, 8)}: ${affected.paths.slice(0, 20).join(', ')}${affected.paths.length > 20 ? ` and ${affected.paths.length - 20} more` : ''}`,
              );
            }
          }
          if (result.activeSubjects > 0 || result.shreddedSubjects > 0) {
            console.log(
              `data subjects: ${result.activeSubjects} active, ${result.shreddedSubjects} erased (shredded: ${result.shreddedEntries} sealed entr${result.shreddedEntries === 1 ? 'y' : 'ies'}, ${result.shreddedBlobs} blob(s), unreadable by design)`,
            );
          }
          const read = flags.readData || flags.readDataSubset ? `, read ${result.packsRead} pack(s) and ${result.blobsRead} blob(s)` : '';
          console.log(
            `${result.snapshots} snapshot(s), ${result.packs} pack(s), ${result.blobs} blob(s)${read}: ${result.ok ? 'no errors were found' : `${result.errors.length} error(s)`}`,
          );
        }
        if (!result.ok) exitWith(1);
      },
    );
}
