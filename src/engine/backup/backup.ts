import { hostname } from 'node:os';
import * as path from 'node:path';
import { EngineError, errnoCode } from '../errors';
import { BackupStatistics, FORMAT_VERSION, Snapshot } from '../repository/format';
import { describe, Repository, StoredSnapshot } from '../repository/repository';
import { SubjectRules } from '../subjects/subject-rules';
import { BlobSaver } from './blob-saver';
import { countProblems } from './problems';
import { BackupRun, WalkContext } from './backup-run';
import { BackupResult, BackupOptions } from './backup-types';
import { scanSource } from './scanner';

export type { BackupError, BackupOptions, BackupProgress, BackupResult, BackupSubjects, BackupSubjectTotals } from './backup-types';

/**
 * Backs up one file or directory tree into the repository and writes a snapshot for it.
 * The parent is the newest snapshot of the same path from this host; unchanged files
 * (same size, mtime and inode) reuse the parent's chunk list without being read.
 */
export async function backup(repository: Repository, sourcePath: string, options: BackupOptions = {}): Promise<BackupResult> {
  return repository.withCurrentIndex(() => backupUnderLock(repository, sourcePath, options));
}

async function backupUnderLock(repository: Repository, sourcePath: string, options: BackupOptions): Promise<BackupResult> {
  const started = Date.now();
  const source = path.resolve(sourcePath);
  // Bad rules are refused before any work is done.
  const rules = options.subjects && options.subjects.rules.length > 0 ? SubjectRules.compile(options.subjects.rules) : null;
  let scan;
  try {
    scan = await scanSource(source);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') throw new EngineError('SOURCE_NOT_FOUND', `source path ${source} does not exist`);
    throw new EngineError('IO_ERROR', `cannot read source path ${source}: ${describe(error)}`);
  }
  if (scan.root.kind !== 'dir' && scan.root.kind !== 'file') {
    throw new EngineError('INVALID_ARGUMENT', `source path ${source} must be a file or a directory`);
  }
  const parent = await findParent(repository, source);
  const subjects = rules && options.subjects ? { rules, pseudonymise: options.subjects.pseudonymise } : null;
  const run = new BackupRun(repository, new BlobSaver(repository, options), options, scan.totalFiles, scan.totalBytes, subjects);
  for (const problem of scan.problems) await run.recordProblem(problem, null);
  const rootMeta = scan.root.kind === 'dir' ? await run.metadataOf(scan.root, null) : null;

  const root: WalkContext = { parts: [], scope: repository.master.scopeKeys(), subject: null, tally: null };
  const parentTree = parent?.snapshot.tree ?? null;
  let rootTree: string;
  try {
    rootTree =
      scan.root.kind === 'dir'
        ? await run.saveDirectory(scan.root, parentTree, root)
        : await run.saveTree(
            { entries: compact([await run.entryFor(scan.root, await run.previousEntries(parentTree), root)]) },
            root.scope,
          );
    await run.saver.finish();
    run.throwIfCancelled();
  } catch (error) {
    // Nothing may still be writing once the backup has returned and released its lock: a prune
    // could otherwise delete a pack whose index entry is written after it.
    await run.saver.settle();
    throw error;
  }

  const problems = countProblems(run.problems);
  const statistics: BackupStatistics = {
    ...run.statistics,
    ...run.saver.statistics,
    durationMs: Date.now() - started,
    errors: problems.unreadable ?? 0,
    ...(rules ? { subjects: run.subjectsSeen.size } : {}),
    problems,
  };
  const snapshot: Snapshot = {
    version: FORMAT_VERSION,
    time: new Date(started).toISOString(),
    hostname: hostname(),
    path: source,
    sourceType: scan.root.kind,
    tags: options.tags ?? [],
    parent: parent?.id ?? null,
    tree: rootTree,
    merkleRoot: rootTree,
    statistics,
    ...(rules ? { subjectRules: rules.texts } : {}),
    // A file source's metadata is in its tree entry; a folder's own is kept here.
    ...(rootMeta !== null ? { root: { ...scan.root.stored, ...rootMeta } } : {}),
    ...(run.storedProblems.length > 0 ? { problems: run.storedProblems } : {}),
  };
  const snapshotId = await repository.saveSnapshot(snapshot);
  const warnings: string[] = [];
  if (!rules && parent?.snapshot.subjectRules?.length) {
    warnings.push(
      `the previous snapshot of ${source} applied subject rules (${parent.snapshot.subjectRules.join(', ')}) and this one applies none: ` +
        "data subjects' files were stored under the repository key, out of reach of erasure by key shredding",
    );
  }
  if (run.reappeared.size > 0) {
    warnings.push(
      `${run.reappeared.size} data subject(s) erased before are in the source again and were backed up under a new key: ` +
        [...run.reappeared].join(', '),
    );
  }
  const errors = run.problems.filter((problem) => problem.reason === 'unreadable').map(({ path, message }) => ({ path, message }));
  return {
    snapshotId,
    snapshot,
    parent: parent?.id ?? null,
    errors,
    problems: run.problems,
    incomplete: errors.length > 0,
    warnings,
    subjects: run.subjectTotals(),
  };
}

async function findParent(repository: Repository, source: string): Promise<StoredSnapshot | undefined> {
  const host = hostname();
  // A damaged snapshot cannot be a parent, and must not stop new backups: skip it.
  const candidates = await repository.listSnapshots(() => undefined);
  return candidates.filter((entry) => entry.snapshot.path === source && entry.snapshot.hostname === host).at(-1);
}

function compact<T>(items: (T | null)[]): T[] {
  return items.filter((item): item is T => item !== null);
}
