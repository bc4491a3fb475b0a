import { Command, InvalidArgumentError } from 'commander';
import {
  backup,
  check,
  createKeySlot,
  EngineError,
  listKeySlots,
  ProblemReason,
  rebuildIndex,
  removeKeySlot,
  Repository,
  restore,
  SubjectRules,
} from '../engine';
import { registerMaintenanceCommands } from './maintenance-commands';
import { collect, formatBytes, printJson, ProgressReporter } from './output';
import { pseudonymiserFromEnv, registerSubjectCommands, subjectPseudonym } from './subject-commands';
import {
  openRepository,
  prepareRepositoryLocation,
  readPassphrase,
  RepositoryFlags,
  repositoryStore,
  withRepository,
} from './repository-options';

/** Sets the exit code without exiting, so output is flushed first. */
/** How the backup's output names each kind of problem, before the path. */
const PROBLEM_LABELS: Record<ProblemReason, string> = {
  unreadable: 'skipped',
  changed: 'changed during backup:',
  socket: 'skipped',
  metadata: 'metadata incomplete for',
};

/** A problem's path (relative to the source root, "." for the root) as the user gave the source. */
function inSource(source: string, relative: string): string {
  return relative === '.' ? source : `${source}/${relative}`;
}

function exitWith(code: number): void {
  process.exitCode = code;
}

function parseSubset(value: string): { n: number; m: number } {
  const match = /^(\d+)\/(\d+)$/.exec(value);
  const n = Number(match?.[1]);
  const m = Number(match?.[2]);
  if (!match || n < 1 || m < 1 || n > m) throw new InvalidArgumentError('expected n/m with 1 <= n <= m, e.g. 2/5');
  return { n, m };
}

function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 2) throw new InvalidArgumentError('expected an integer of at least 2');
  return n;
}

export function registerEngineCommands(program: Command): void {
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
      const result = await backup(repository, source, {
        full: flags.full,
        tags: flag(flags.tag),
        subjects,
        onProgress: (p) => progress.update(p),
        signal: interrupt.signal,
      }).finally(() => {
        process.removeListener('SIGINT', onInterrupt);
        process.removeListener('SIGTERM', onInterrupt);
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

  withRepository(program.command('snapshots').description('list snapshots'))
    .option('--json', 'print as a JSON array')
    .action(async (flags: RepositoryFlags & { json?: boolean }) => {
      const repository = await openRepository(flags, { loadIndex: false });
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

  registerSubjectCommands(program);
  registerMaintenanceCommands(program);
}

function flag(values: string[]): string[] | undefined {
  return values.length > 0 ? values : undefined;
}
