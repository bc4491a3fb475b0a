import { DecryptionError, open, seal } from '../crypto/aead';
import { SubjectKey } from '../crypto/subject-key';
import { AAD, ProblemCounts, ProblemReason, PROBLEM_REASONS, SnapshotProblem } from '../repository/format';
import { describe } from '../repository/repository';
import { SubjectKeyRing } from '../subjects/key-ring';

/** A problem as the backup met it: the path below the source root, and what went wrong. */
export interface BackupProblem {
  reason: ProblemReason;
  /** '/'-separated below the source root, names that are not UTF-8 escaped. */
  path: string;
  message: string;
}

/**
 * The stored form of a problem. Inside a data subject's data (`subject` set), path and message
 * are sealed under the subject's entry key, with the reason bound as associated data: once the
 * subject is erased, the snapshot still says that one of its files had a problem, never which.
 */
export function storeProblem(problem: BackupProblem, subject: SubjectKey | null): SnapshotProblem {
  if (subject === null) return { reason: problem.reason, path: problem.path, message: problem.message };
  const plaintext = Buffer.from(JSON.stringify({ path: problem.path, message: problem.message }), 'utf8');
  const box = seal(subject.entryKey, plaintext, AAD.sealedProblem(subject.pseudonym, subject.keyId, problem.reason));
  return { reason: problem.reason, subject: subject.pseudonym, key: subject.keyId, box: box.toString('base64') };
}

/** A stored problem as a reader sees it: open, or sealed for an erased (or missing) subject. */
export type ListedProblem =
  (BackupProblem & { subject?: string }) | { reason: ProblemReason; subject: string; sealed: 'shredded' | 'missing' | 'damaged' };

/** Opens the snapshot's problems with the subject keys the ring can find. */
export async function listProblems(problems: SnapshotProblem[] | undefined, keys: SubjectKeyRing): Promise<ListedProblem[]> {
  const listed: ListedProblem[] = [];
  for (const problem of problems ?? []) {
    if (!('box' in problem)) {
      listed.push({ reason: problem.reason, path: problem.path, message: problem.message });
      continue;
    }
    let key;
    try {
      key = await keys.lookup(problem.subject, problem.key);
    } catch {
      key = 'damaged' as const;
    }
    if (typeof key === 'string') {
      listed.push({ reason: problem.reason, subject: problem.subject, sealed: key });
      continue;
    }
    try {
      const plaintext = open(
        key.entryKey,
        Buffer.from(problem.box, 'base64'),
        AAD.sealedProblem(problem.subject, problem.key, problem.reason),
      );
      const { path, message } = JSON.parse(plaintext.toString('utf8')) as { path: string; message: string };
      listed.push({ reason: problem.reason, path: String(path), message: String(message), subject: problem.subject });
    } catch (error) {
      if (!(error instanceof DecryptionError) && !(error instanceof SyntaxError)) throw new Error(describe(error));
      listed.push({ reason: problem.reason, subject: problem.subject, sealed: 'damaged' });
    }
  }
  return listed;
}

/** Problems counted by reason: what events and statistics carry (never paths). */
export function countProblems(problems: { reason: ProblemReason }[]): ProblemCounts {
  const counts: ProblemCounts = {};
  for (const reason of PROBLEM_REASONS) {
    const count = problems.filter((problem) => problem.reason === reason).length;
    if (count > 0) counts[reason] = count;
  }
  return counts;
}
