import { backup, BackupSubjectTotals, EngineError, Pseudonymiser, Snapshot, subjectsInSnapshot } from '../../engine';
import { problemCountsOf } from '../../domain';
import { JobRefused, JobRunner, WorkerOptions } from './runner';

/**
 * Backs up the source folder. Idempotent by job id: a snapshot already in the repository tagged
 * with the job id is reported instead of backing up again, so a redelivered job never makes a
 * second backup.
 */
export const runBackup: JobRunner<'backup'> = async (job, { repository, onProgress, signal, options }) => {
  const { payload } = job;
  const refusal = await options.paths.sourceProblem(payload.path);
  // The reason names the rule only: it is recorded in the event, and the paths are the setting's.
  if (refusal !== null) throw new JobRefused('SOURCE_FORBIDDEN', `the source folder is refused (${refusal.rule}); nothing was backed up`);
  const jobTag = `job:${job.jobId}`;
  // A damaged snapshot (of any source) must not stop backups; check reports it.
  const earlier = (await repository.listSnapshots(() => undefined)).find((stored) => stored.snapshot.tags.includes(jobTag));
  let id: string;
  let snapshot: Snapshot;
  let subjects: BackupSubjectTotals[];
  if (earlier) {
    ({ id, snapshot } = earlier);
    // Which keys that attempt created is not recorded in the snapshot: counted as none.
    const held = snapshot.subjectRules?.length
      ? await repository.withCurrentIndex(() => subjectsInSnapshot(repository, snapshot.tree))
      : new Map();
    subjects = [...held].map(([pseudonym, { files, bytes }]) => ({ pseudonym, files, bytes, keyCreated: false }));
  } else {
    const result = await backup(repository, payload.path, {
      full: payload.full,
      tags: [jobTag, `backup:${payload.backupId}`],
      onProgress,
      signal,
      subjects: subjectsFor(payload.subjectRules, options),
    });
    ({ snapshotId: id, snapshot, subjects } = result);
  }
  const s = snapshot.statistics;
  return {
    snapshotId: id,
    merkleRoot: snapshot.merkleRoot,
    statistics: {
      files: s.files,
      directories: s.directories,
      bytesRead: s.bytesRead,
      totalBytes: s.totalBytes,
      newBytes: s.newBytes,
      storedBytes: s.storedBytes,
      duplicateBytes: s.duplicateBytes,
      chunks: s.chunks,
      durationMs: s.durationMs,
      errors: s.errors,
      // Counts by reason only: the paths stay in the encrypted snapshot.
      problems: problemCountsOf(s.problems),
    },
    ...(snapshot.subjectRules?.length && {
      subjects: subjects.map(({ pseudonym, files, bytes, keyCreated }) => ({ subject: pseudonym, files, bytes, keyCreated })),
    }),
  };
};

function subjectsFor(rules: string[] | undefined, options: WorkerOptions): { rules: string[]; pseudonymise: Pseudonymiser } | undefined {
  if (!rules || rules.length === 0) return undefined;
  if (!options.pseudonymise) {
    throw new EngineError('PSEUDONYM_SECRET_MISSING', 'the source has subject rules but this worker has no pseudonymisation secret');
  }
  return { rules, pseudonymise: options.pseudonymise };
}
