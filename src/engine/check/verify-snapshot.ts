import { EngineError } from '../errors';
import { Tree } from '../repository/format';
import { Repository } from '../repository/repository';
import { dataLength } from '../restore/entry-rules';
import { planRestore } from '../restore/plan';
import { isSealedEntry, openSealedEntry } from '../subjects/sealed-entry';

export interface SnapshotVerification {
  snapshotId: string;
  blobsChecked: number;
  bytesChecked: number;
  /** Entries of erased data subjects, which cannot be read by design (see RestoreResult.skippedErased). */
  skippedErased: { entries: number; files: number; bytes: number };
}

/**
 * Reads every blob one snapshot references (its trees and file chunks), authenticating and
 * hash-checking each: proof that this backup can be restored, without writing anything.
 * Entries of erased subjects are counted and skipped. Throws the first EngineError met
 * (UNSAFE_PATH for a manifest a restore would refuse, BLOB_DAMAGED, PACK_MISSING,
 * SUBJECT_KEY_MISSING, ...).
 */
export async function verifySnapshot(repository: Repository, snapshotReference: string): Promise<SnapshotVerification> {
  return repository.withCurrentIndex(() => verifyUnderLock(repository, snapshotReference));
}

async function verifyUnderLock(repository: Repository, snapshotReference: string): Promise<SnapshotVerification> {
  const { id, snapshot } = await repository.resolveSnapshot(snapshotReference);
  const keys = repository.subjectKeys();
  // The restore's own plan first: a manifest it would refuse must not be reported verified.
  await planRestore(repository, snapshot.tree, [], { keys });
  const seen = new Set<string>();
  /** Data blobs read so far, by id, with their lengths. */
  const lengths = new Map<string, number>();
  const skippedErased = { entries: 0, files: 0, bytes: 0 };
  let bytesChecked = 0;
  const visit = async (treeId: string): Promise<void> => {
    if (seen.has(treeId)) return;
    seen.add(treeId);
    // Read afresh, not from the tree cache: damage since the last read must be found.
    const tree = JSON.parse((await repository.readBlob(treeId, keys)).toString('utf8')) as Tree;
    for (const stored of tree.entries) {
      let entry = stored;
      if (isSealedEntry(stored)) {
        const opened = await openSealedEntry(keys, stored);
        if (opened.status === 'shredded') {
          skippedErased.entries++;
          skippedErased.files += stored.files;
          skippedErased.bytes += stored.bytes;
          continue;
        }
        if (opened.status === 'missing') {
          throw new EngineError('SUBJECT_KEY_MISSING', `key ${stored.key} of data subject ${stored.subject} is missing (lost, not erased)`);
        }
        if (opened.status === 'damaged') {
          throw new EngineError(
            'BLOB_DAMAGED',
            `a sealed entry of data subject ${stored.subject} in tree ${treeId} is damaged (${opened.reason})`,
          );
        }
        entry = opened.entry;
      }
      if (entry.type === 'dir') await visit(entry.subtree);
      if (entry.type !== 'file') continue;
      let length = 0;
      for (const blobId of entry.content) {
        if (!lengths.has(blobId)) {
          const blob = await repository.readBlob(blobId, keys);
          lengths.set(blobId, blob.length);
          bytesChecked += blob.length;
        }
        length += lengths.get(blobId)!;
      }
      // A restore would write this many bytes: a file whose chunks do not add up is not restorable.
      if (length !== dataLength(entry)) {
        throw new EngineError(
          'SNAPSHOT_DAMAGED',
          `a file in tree ${treeId.slice(0, 8)} holds ${length} bytes of data where its entry says ${dataLength(entry)}`,
        );
      }
    }
  };
  await visit(snapshot.tree);
  return { snapshotId: id, blobsChecked: seen.size + lengths.size, bytesChecked, skippedErased };
}
