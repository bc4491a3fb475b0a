import { Command } from 'commander';
import { restore } from '../../engine';
import { collect, formatBytes, printJson, ProgressReporter } from '../output';
import { subjectPseudonym } from '../subject-commands';
import { openRepository, RepositoryFlags, withRepository } from '../repository-options';
import { exitWith } from './shared';

/** Registers `custodia restore`: restore all or part of a snapshot. */
export function registerRestoreCommand(program: Command): void {
  withRepository(program.command('restore').description('restore a snapshot into a target folder'))
    .argument('<snapshot>', 'snapshot id, unique prefix, or "latest"')
    .requiredOption('--target <dir>', 'folder to restore into (created if missing)')
    .option('--include <path>', 'restore only this path of the snapshot (repeatable)', collect, [])
    .option('--overwrite', 'restore into a non-empty target, replacing files at restored paths')
    .option('--subject <id>', "restore only this data subject's files (external id; a pseudonym with --pseudonym)")
    .option('--pseudonym', 'the --subject value is the pseudonym itself')
    .option('--numeric-owner', 'as root, restore owners by their stored numbers, ignoring user and group names')
    .option('--json', 'print progress and the summary as JSON lines')
    .option('--no-lock', 'take no repository lock (read-only storage); a prune running meanwhile can make it fail')
    .action(
      async (
        snapshot: string,
        flags: RepositoryFlags & {
          target: string;
          include: string[];
          overwrite?: boolean;
          subject?: string;
          pseudonym?: boolean;
          numericOwner?: boolean;
          json?: boolean;
          lock: boolean;
        },
      ) => {
        const onlySubject = flags.subject !== undefined ? subjectPseudonym(flags.subject, flags.pseudonym, 'restore --subject') : undefined;
        const repository = await openRepository(flags, { loadIndex: false });
        repository.lockOptions = { none: !flags.lock };
        const progress = new ProgressReporter(flags.json ?? false);
        const result = await restore(repository, snapshot, flags.target, {
          include: flags.include,
          overwrite: flags.overwrite,
          onlySubject,
          numericOwner: flags.numericOwner,
          onProgress: (p) => progress.update(p),
        });
        progress.done();
        if (flags.json) {
          for (const error of result.errors) printJson({ message_type: 'error', path: error.path, message: error.message });
          for (const error of result.metadataErrors)
            printJson({ message_type: 'metadata_error', path: error.path, message: error.message });
          for (const warning of result.warnings) printJson({ message_type: 'warning', message: warning });
          printJson({
            message_type: 'summary',
            ...result,
            errors: result.errors.length,
            metadataErrors: result.metadataErrors.length,
            warnings: result.warnings.length,
          });
        } else {
          for (const error of result.errors) console.error(`custodia: could not restore ${error.path}: ${error.message}`);
          for (const error of result.metadataErrors) console.error(`custodia: ${error.path}: ${error.message}`);
          for (const warning of result.warnings) console.error(`custodia: warning: ${warning}`);
          console.log(
            `restored snapshot ${result.snapshotId.slice(0, 8)}: ${result.files} files, ${result.hardLinks} hard links, ${result.directories} directories, ${result.symlinks} symlinks, ${result.specialFiles} special files, ${formatBytes(result.bytes)}`,
          );
          const erased = result.skippedErased;
          if (erased.entries > 0) {
            console.log(
              `skipped because erased: ${erased.files} file(s), ${formatBytes(erased.bytes)} of ${erased.subjects} data subject(s) (${erased.entries} sealed entr${erased.entries === 1 ? 'y' : 'ies'})`,
            );
          }
        }
        if (result.errors.length > 0 || result.metadataErrors.length > 0) {
          if (!flags.json) {
            const [missing, inexact] = [result.errors.length, result.metadataErrors.length];
            console.error(
              `custodia: restore incomplete: ${missing} entr${missing === 1 ? 'y' : 'ies'} could not be restored, ${inexact} restored without some metadata`,
            );
          }
          exitWith(1);
        }
      },
    );
}
