import { Command } from 'commander';
import { backup, ProblemReason, SubjectRules } from '../../engine';
import { collect, formatBytes, printJson, ProgressReporter, whenStdoutCloses } from '../output';
import { pseudonymiserFromEnv } from '../subject-commands';
import { openRepository, RepositoryFlags, withRepository } from '../repository-options';
import { exitWith, flag, inSource } from './shared';

/** How the backup's output names each kind of problem, before the path. */
const PROBLEM_LABELS: Record<ProblemReason, string> = {
  unreadable: 'skipped',
  changed: 'changed during backup:',
  socket: 'skipped',
  metadata: 'metadata incomplete for',
};

/** Registers `custodia backup`: back up a file or folder, printing what it skipped. */
export function registerBackupCommand(program: Command): void {
  withRepository(program.command('backup').description('back up a file or directory tree'))
    .argument('<path>', 'file or directory to back up')
    .option('--full', 're-read every file instead of trusting the parent snapshot')
    .option('--tag <tag>', 'tag the snapshot (repeatable)', collect, [])
    .option(
      '--subject-rule <template>',
      "files of a data subject, e.g. 'customers/{subject}/**' (repeatable); pseudonymised with CUSTODIA_PSEUDONYM_SECRET",
      collect,
      [],
    )
    .option('--json', 'print progress and the summary as JSON lines')
    .action(async (source: string, flags: RepositoryFlags & { full?: boolean; tag: string[]; subjectRule: string[]; json?: boolean }) => {
      const subjects =
        flags.subjectRule.length > 0 ? { rules: flags.subjectRule, pseudonymise: pseudonymiserFromEnv('--subject-rule') } : undefined;
      if (subjects) SubjectRules.compile(subjects.rules);
      // The backup loads the index itself, once it holds the repository lock.
      const repository = await openRepository(flags, { loadIndex: false });
      const progress = new ProgressReporter(flags.json ?? false);
      // Ctrl-C stops at the next file or chunk, stores what was read (the next backup reuses it)
      // and releases the lock; a second Ctrl-C kills at once.
      const interrupt = new AbortController();
      const onInterrupt = () => {
        process.removeListener('SIGINT', onInterrupt);
        process.removeListener('SIGTERM', onInterrupt);
        interrupt.abort();
      };
      process.once('SIGINT', onInterrupt).once('SIGTERM', onInterrupt);
      // So does a reader that stops reading (`| head -1`): the output would go nowhere.
      const stopWatching = whenStdoutCloses(onInterrupt);
      const result = await backup(repository, source, {
        full: flags.full,
        tags: flag(flags.tag),
        subjects,
        onProgress: (p) => progress.update(p),
        signal: interrupt.signal,
      }).finally(() => {
        process.removeListener('SIGINT', onInterrupt);
        process.removeListener('SIGTERM', onInterrupt);
        stopWatching();
        progress.done();
      });
      const { statistics } = result.snapshot;
      if (flags.json) {
        for (const problem of result.problems) {
          printJson({
            message_type: problem.reason === 'unreadable' ? 'error' : 'problem',
            reason: problem.reason,
            path: inSource(result.snapshot.path, problem.path),
            message: problem.message,
          });
        }
        for (const warning of result.warnings) printJson({ message_type: 'warning', message: warning });
        printJson({
          message_type: 'summary',
          snapshot_id: result.snapshotId,
          parent: result.parent,
          merkle_root: result.snapshot.merkleRoot,
          ...statistics,
        });
      } else {
        for (const problem of result.problems)
          console.error(`custodia: ${PROBLEM_LABELS[problem.reason]} ${inSource(result.snapshot.path, problem.path)}: ${problem.message}`);
        for (const warning of result.warnings) console.error(`custodia: warning: ${warning}`);
        const problems = Object.entries(statistics.problems ?? {}).map(([reason, count]) => `${reason} ${count}`);
        console.log(
          [
            `snapshot ${result.snapshotId.slice(0, 8)} saved${result.parent ? ` (parent ${result.parent.slice(0, 8)})` : ''}`,
            `merkle root ${result.snapshot.merkleRoot}`,
            `files: ${statistics.files} (${statistics.filesRead} read, ${statistics.filesUnchanged} unchanged, ${statistics.hardLinks ?? 0} hard links), directories: ${statistics.directories}, symlinks: ${statistics.symlinks}, special files: ${statistics.specialFiles ?? 0}`,
            `read ${formatBytes(statistics.bytesRead)} of ${formatBytes(statistics.totalBytes)}, new ${formatBytes(statistics.newBytes)}, duplicate ${formatBytes(statistics.duplicateBytes)}, stored ${formatBytes(statistics.storedBytes)}`,
            `chunks: ${statistics.chunks} (${statistics.newChunks} new), errors: ${statistics.errors}, duration ${(statistics.durationMs / 1000).toFixed(2)} s`,
            ...(problems.length > 0
              ? [
                  `problems: ${problems.join(', ')} (listed above; also by \`custodia snapshots --errors ${result.snapshotId.slice(0, 8)}\`)`,
                ]
              : []),
            ...(statistics.subjects !== undefined
              ? [`data subjects: ${statistics.subjects} (their entries sealed under their own keys)`]
              : []),
          ].join('\n'),
        );
      }
      if (result.incomplete) {
        if (!flags.json)
          console.error(
            `custodia: backup incomplete: ${result.errors.length} entr${result.errors.length === 1 ? 'y' : 'ies'} could not be read`,
          );
        exitWith(3);
      }
    });
}
