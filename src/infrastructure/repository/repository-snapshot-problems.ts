import { isEngineError, listProblems, ListedProblem } from '../../engine';
import { SnapshotProblemItem, SnapshotProblems } from '../../application/ports/snapshot-problems';
import { DomainError } from '../../domain';
import { RepositoryProvider } from '../../worker/repository-provider';

const SEALED: Record<Extract<ListedProblem, { sealed: string }>['sealed'], 'erased' | 'key-missing' | 'damaged'> = {
  shredded: 'erased',
  missing: 'key-missing',
  damaged: 'damaged',
};

/**
 * The snapshot's problems read from the service's repository (the one its workers back up into),
 * opened with the subject keys the key vault still holds: an erased subject's are left sealed.
 */
export class RepositorySnapshotProblems implements SnapshotProblems {
  constructor(private readonly repositories: RepositoryProvider) {}

  async problemsOf(snapshotId: string): Promise<SnapshotProblemItem[]> {
    const repository = await this.repositories.repository();
    let snapshot;
    try {
      snapshot = await repository.loadSnapshot(snapshotId);
    } catch (error) {
      if (isEngineError(error, 'SNAPSHOT_NOT_FOUND')) {
        throw new DomainError('NO_SNAPSHOT', `snapshot ${snapshotId.slice(0, 12)} is not in the repository`);
      }
      throw error;
    }
    // A fresh key ring: a key shredded since the last read is not remembered.
    const listed = await listProblems(snapshot.problems, repository.subjectKeys());
    return listed.map((problem): SnapshotProblemItem => {
      if ('sealed' in problem) {
        return { reason: problem.reason, path: null, message: null, subject: problem.subject, sealed: SEALED[problem.sealed] };
      }
      return { reason: problem.reason, path: problem.path, message: problem.message, subject: problem.subject ?? null, sealed: null };
    });
  }
}
