import type { JobKind } from '../../application/jobs';
import { runBackup } from './backup.runner';
import { runDelete } from './delete.runner';
import { runErase } from './erase.runner';
import { runRestore } from './restore.runner';
import { JobRunner } from './runner';
import { runVerify } from './verify.runner';

/** The worker's runner for each kind of job: one file each, typed by the kind's payload and result. */
export const RUNNERS: { [K in JobKind]: JobRunner<K> } = {
  backup: runBackup,
  restore: runRestore,
  verify: runVerify,
  erase: runErase,
  delete: runDelete,
};

export * from './runner';
