import type { ProblemReasonData } from '../../domain';

/**
 * One problem a backup met, as the control plane shows it. Inside a data subject's data the path
 * and message are sealed under the subject's key: once the subject is erased (or its key is
 * lost, or the box is damaged) only the reason and the subject's pseudonym remain.
 */
export type SnapshotProblemItem =
  | { reason: ProblemReasonData; path: string; message: string; subject: string | null; sealed: null }
  | { reason: ProblemReasonData; path: null; message: null; subject: string; sealed: 'erased' | 'key-missing' | 'damaged' };

/**
 * Port: the problems recorded inside a snapshot (encrypted in the repository the backup was
 * written to). Adapter: the service's repository, through the engine. Throws NO_SNAPSHOT
 * (DomainError) when the snapshot is not in the repository.
 */
export interface SnapshotProblems {
  problemsOf(snapshotId: string): Promise<SnapshotProblemItem[]>;
}
