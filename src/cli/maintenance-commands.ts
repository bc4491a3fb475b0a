import { Command, InvalidArgumentError } from 'commander';
import { forget, prune, PruneResult, removeAllLocks, removeStaleLocks } from '../engine';
import { formatBytes, printJson } from './output';
import { openRepository, RepositoryFlags, repositoryStore, withRepository } from './repository-options';

function parsePercent(value: string): number {
  const percent = Number(value);
  if (value.trim() === '' || !Number.isFinite(percent) || percent < 0 || percent > 100) {
    throw new InvalidArgumentError('expected a percentage between 0 and 100');
  }
  return percent / 100;
}

/** Removing data: forget snapshots, prune what nothing uses, clear the locks of dead processes. */
export function registerMaintenanceCommands(program: Command): void {
  withRepository(program.command('forget').description('remove snapshots; their data goes at the next prune'))
    .argument('<snapshot...>', 'snapshot ids (or unique prefixes of at least 4 characters)')
    .option('--json', 'print the result as JSON')
    .action(async (references: string[], flags: RepositoryFlags & { json?: boolean }) => {
      const repository = await openRepository(flags, { loadIndex: false });
      const removed = await forget(repository, references);
      if (flags.json) printJson({ message_type: 'forgotten', snapshots: removed });
      else
        console.log(
          `removed ${removed.length} snapshot(s): ${removed.map((id) => id.slice(0, 8)).join(', ')}; run "custodia prune" to free their data`,
        );
    });

  withRepository(
    program
      .command('prune')
      .description(
        "delete the data no snapshot uses: forgotten snapshots' data and erased data subjects' blobs (needs the repository to itself)",
      ),
  )
    .option('--dry-run', 'only report what would be removed')
    .option('--max-unused <percent>', 'rewrite a pack once this share of it is unused (packs with erased data always)', parsePercent, 0.05)
    .option('--json', 'print the result as JSON')
    .action(async (flags: RepositoryFlags & { dryRun?: boolean; maxUnused: number; json?: boolean }) => {
      const repository = await openRepository(flags, { loadIndex: false });
      const result = await prune(repository, { dryRun: flags.dryRun, maxUnusedShare: flags.maxUnused });
      if (flags.json) printJson({ message_type: 'summary', ...result });
      else console.log(describePrune(result));
    });

  withRepository(program.command('unlock').description('remove the locks of processes that are gone (or every lock with --remove-all)'))
    .option('--remove-all', 'remove every lock: only when no Custodia process uses the repository')
    .action(async (flags: RepositoryFlags & { removeAll?: boolean }) => {
      // Locks are encrypted: telling a stale lock from a live one needs the key; removing all does not.
      let removed: number;
      if (flags.removeAll) removed = await removeAllLocks(repositoryStore(flags));
      else {
        const repository = await openRepository(flags, { loadIndex: false });
        removed = await removeStaleLocks(repository.store, repository.master.lockKey);
      }
      console.log(`removed ${removed} lock(s)`);
    });
}

function describePrune(result: PruneResult): string {
  const { packs, blobs, bytes } = result;
  const lines = [
    `${result.dryRun ? 'would remove' : 'removed'} ${blobs.removed} unused blob(s) (${blobs.erasedRemoved} of erased data subjects): ` +
      `${packs.deleted} pack(s) deleted, ${packs.rewritten} rewritten into ${result.dryRun ? 'new ones' : `${packs.written} new one(s)`} ` +
      `(${blobs.copied} blob(s) copied), ${packs.kept} kept`,
    `repository data ${formatBytes(bytes.before)} -> ${result.dryRun ? 'about ' : ''}${formatBytes(bytes.after)}, ${result.snapshots} snapshot(s)`,
  ];
  if (result.unindexedPacks > 0)
    lines.push(`${result.unindexedPacks} pack(s) in no index left alone; "custodia index rebuild" adopts them`);
  return lines.join('\n');
}
