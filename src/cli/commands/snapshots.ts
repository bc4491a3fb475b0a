import { Command } from 'commander';
import { countProblems, EngineError, listProblems, Repository } from '../../engine';
import { formatBytes, printJson } from '../output';
import { openRepository, RepositoryFlags, withRepository } from '../repository-options';
import { exitWith, inSource } from './shared';

/** What a sealed problem shows instead of its path: the data subject's pseudonym and why it stays sealed. */
const SEALED_LABELS = {
  shredded: 'erased data subject',
  missing: 'data subject whose key is missing',
  damaged: 'data subject, sealed entry damaged,',
} as const;

/**
 * `snapshots --errors ID`: the problems recorded in the snapshot, opened with the subject keys
 * the vault holds. Those of an erased subject stay sealed: reason and pseudonym, never a path.
 * Exit 0 (the listing succeeded, whatever it lists); an unknown id is SNAPSHOT_NOT_FOUND.
 */
async function listSnapshotProblems(repository: Repository, reference: string, json: boolean): Promise<void> {
  const { id, snapshot } = await repository.resolveSnapshot(reference);
  const problems = await listProblems(snapshot.problems, repository.subjectKeys());
  const counts = countProblems(problems);
  if (json) {
    printJson({
      snapshot_id: id,
      path: snapshot.path,
      // Absent from snapshots older than format 3, which recorded no problems.
      recorded: snapshot.statistics.problems !== undefined,
      counts,
      problems: problems.map((problem) =>
        'sealed' in problem
          ? { reason: problem.reason, subject: problem.subject, sealed: problem.sealed }
          : {
              reason: problem.reason,
              path: inSource(snapshot.path, problem.path),
              message: problem.message,
              ...(problem.subject !== undefined && { subject: problem.subject }),
            },
      ),
    });
    return;
  }
  for (const problem of problems) {
    const where = 'sealed' in problem ? `<${SEALED_LABELS[problem.sealed]} ${problem.subject}>` : inSource(snapshot.path, problem.path);
    const message = 'sealed' in problem ? '' : `: ${problem.message}`;
    console.log(`${problem.reason.padEnd(10)}  ${where}${message}`);
  }
  const summary = Object.entries(counts).map(([reason, count]) => `${reason} ${count}`);
  const recorded = snapshot.statistics.problems !== undefined ? '' : ' (this snapshot predates format 3, which records them)';
  console.log(
    `snapshot ${id.slice(0, 8)}: ${problems.length} problem(s)${summary.length > 0 ? `: ${summary.join(', ')}` : ''}${problems.length === 0 ? recorded : ''}`,
  );
}

/** Registers `custodia snapshots`: list snapshots, or one snapshot's recorded problems. */
export function registerSnapshotsCommand(program: Command): void {
  withRepository(program.command('snapshots').description("list snapshots, or with --errors what one snapshot's backup skipped"))
    .option('--errors <snapshot>', 'list what the backup of this snapshot (id, unique prefix or "latest") skipped or found changing')
    .option('--json', 'print as a JSON array (with --errors, one JSON object)')
    .action(async (flags: RepositoryFlags & { json?: boolean; errors?: string }) => {
      const repository = await openRepository(flags, { loadIndex: false });
      if (flags.errors !== undefined) return listSnapshotProblems(repository, flags.errors, flags.json ?? false);
      // A damaged snapshot is reported, not fatal: the readable ones are what a user restores from.
      const damaged: EngineError[] = [];
      const snapshots = await repository.listSnapshots((_id, error) => damaged.push(error));
      if (flags.json) {
        printJson(snapshots.map(({ id, snapshot }) => ({ id, ...snapshot })));
      } else {
        console.log('ID        Time                      Host            Tags        Size        Path');
        for (const { id, snapshot } of snapshots) {
          console.log(
            `${id.slice(0, 8)}  ${snapshot.time.padEnd(24)}  ${snapshot.hostname.slice(0, 14).padEnd(14)}  ${snapshot.tags.join(',').padEnd(10)}  ${formatBytes(snapshot.statistics.totalBytes).padEnd(10)}  ${snapshot.path}`,
          );
        }
        console.log(`${snapshots.length} snapshot(s)`);
      }
      for (const error of damaged) console.error(`custodia: error [${error.code}]: ${error.message}`);
      if (damaged.length > 0) exitWith(1);
    });
}
