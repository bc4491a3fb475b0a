import { describe, Repository } from '../repository/repository';
import { SubjectKeyStatus } from './key-vault';
import { assertPseudonym } from './pseudonym';
import { isSealedEntry } from './sealed-entry';

/** What one snapshot holds of a data subject, from the sealed entries' clear counts. */
export interface SubjectSnapshotData {
  snapshotId: string;
  time: string;
  hostname: string;
  path: string;
  /** Sealed entries of the subject (its folders and files matched by a rule). */
  entries: number;
  files: number;
  bytes: number;
  /** The subject keys they are sealed under. */
  keyIds: string[];
}

export interface SubjectData {
  pseudonym: string;
  /** The subject's key status now: 'shredded' means every snapshot's entries below are erased. */
  status: SubjectKeyStatus;
  /** Snapshots holding data of the subject, oldest first; snapshots without any are left out. */
  snapshots: SubjectSnapshotData[];
  /** Snapshots or trees that could not be read, so the answer may be incomplete. */
  errors: string[];
}

/**
 * Which backups hold data of one subject, and how much (GDPR Art. 15 access requests, and the
 * record of an erasure). Needs neither the subject key nor any decryption beyond the
 * repository's own trees: sealed entries name their subject's pseudonym and carry counts in clear.
 */
export async function findSubjectData(repository: Repository, pseudonym: string): Promise<SubjectData> {
  assertPseudonym(pseudonym);
  const errors: string[] = [];
  const snapshots = await repository.listSnapshots((id, error) => errors.push(`snapshot ${id}: ${error.message}`));
  const found: SubjectSnapshotData[] = [];
  for (const { id, snapshot } of snapshots) {
    const held = (await subjectsInSnapshot(repository, snapshot.tree, (error) => errors.push(`snapshot ${id}: ${error}`))).get(pseudonym);
    if (!held) continue;
    found.push({ snapshotId: id, time: snapshot.time, hostname: snapshot.hostname, path: snapshot.path, ...held });
  }
  return { pseudonym, status: await repository.keyVault.status(pseudonym), snapshots: found, errors };
}

export interface SubjectHoldings {
  entries: number;
  files: number;
  bytes: number;
  keyIds: string[];
}

/** Every data subject in one snapshot's tree, by pseudonym, from the sealed entries' clear counts. */
export async function subjectsInSnapshot(
  repository: Repository,
  rootTree: string,
  onError: (message: string) => void = () => undefined,
): Promise<Map<string, SubjectHoldings>> {
  const held = new Map<string, SubjectHoldings>();
  const visit = async (treeId: string): Promise<void> => {
    let tree;
    try {
      tree = await repository.readTree(treeId);
    } catch (error) {
      onError(`tree ${treeId} cannot be read: ${describe(error)}`);
      return;
    }
    for (const entry of tree.entries) {
      if (isSealedEntry(entry)) {
        const data = held.get(entry.subject) ?? { entries: 0, files: 0, bytes: 0, keyIds: [] };
        data.entries++;
        data.files += entry.files;
        data.bytes += entry.bytes;
        if (!data.keyIds.includes(entry.key)) data.keyIds = [...data.keyIds, entry.key].sort();
        held.set(entry.subject, data);
      } else if (entry.type === 'dir') {
        await visit(entry.subtree);
      }
    }
  };
  await visit(rootTree);
  return held;
}
