import { EngineError, restore } from '../../engine';
import { JobRefused, JobRunner } from './runner';

/** Restores the snapshot (or one data subject's part of it) into the target, inside a restore root. */
export const runRestore: JobRunner<'restore'> = async (job, { repository, onProgress, options }) => {
  const { payload } = job;
  const within = await options.paths.restoreRootOf(payload.target);
  if (within === null) {
    throw new JobRefused('TARGET_OUTSIDE_RESTORE_ROOTS', 'the restore target is not inside a restore root (RESTORE_ROOTS) once resolved');
  }
  // The target was checked to be new or empty when the restore was requested; a later
  // attempt finds the first attempt's partial files there and replaces them.
  const result = await restore(repository, payload.snapshotId, payload.target, {
    within,
    include: payload.include,
    overwrite: job.attempt > 1,
    onProgress,
    ...(payload.subject !== undefined && { onlySubject: payload.subject }),
  });
  if (result.errors.length > 0) {
    throw new EngineError(
      'BLOB_DAMAGED',
      `${result.errors.length} file(s) could not be restored from snapshot ${payload.snapshotId.slice(0, 8)}`,
    );
  }
  return {
    files: result.files,
    bytes: result.bytes,
    skippedErased: { files: result.skippedErased.files, bytes: result.skippedErased.bytes },
    // Counts only: the paths may name people, and job results travel in events and logs.
    ...(result.metadataErrors.length > 0 && { metadataNotRestored: result.metadataErrors.length }),
  };
};
