import { StoredEntry, TreeEntry } from '../repository/format';
import { describe, Repository, StoredSnapshot } from '../repository/repository';
import { SubjectKeyRing } from '../subjects/key-ring';
import { isSealedEntry, openSealedEntry } from '../subjects/sealed-entry';
import { CheckResult } from './check-types';
import { BlobUsers } from './blob-users';
import type { MissingKeys } from './subject-checks';

/** Which snapshot files use which blob, so damage can be reported in terms a user recognises. */
export class ReferenceMap {
  readonly blobs = new Map<string, BlobUsers>();

  constructor(
    private readonly keys: SubjectKeyRing,
    private readonly missingKeys: MissingKeys,
  ) {}

  async collect(repository: Repository, snapshot: StoredSnapshot, result: CheckResult): Promise<void> {
    const snapshotId = snapshot.id;
    const visit = async (treeId: string, prefix: string): Promise<void> => {
      this.use(treeId, snapshotId, prefix || '/');
      let entries: StoredEntry[];
      try {
        entries = (await repository.readTree(treeId, this.keys)).entries;
      } catch (error) {
        result.errors.push({
          kind: 'tree-damaged',
          object: treeId,
          message: `tree of "${prefix || '/'}" in snapshot ${snapshotId.slice(0, 8)} cannot be read: ${describe(error)}`,
          affected: [{ snapshot: snapshotId, paths: [prefix || '/'] }],
        });
        return;
      }
      for (const stored of entries) {
        let entry: TreeEntry;
        let path: string;
        if (isSealedEntry(stored)) {
          // Paths name a subject's entry by pseudonym: its real name is the subject's external id.
          path = `${prefix}/<subject ${String(stored.subject).slice(0, 12)}>`;
          const opened = await openSealedEntry(this.keys, stored);
          if (opened.status === 'shredded') result.shreddedEntries++;
          else if (opened.status === 'missing') this.missingKeys.addEntry(stored.subject, stored.key, stored.files, snapshotId, path);
          else if (opened.status === 'damaged') {
            result.errors.push({
              kind: 'sealed-entry-damaged',
              object: treeId,
              message: `a sealed entry of subject ${String(stored.subject)} in "${prefix || '/'}" of snapshot ${snapshotId.slice(0, 8)} cannot be opened (${opened.reason})`,
              affected: [{ snapshot: snapshotId, paths: [path] }],
            });
          }
          if (opened.status !== 'open') continue;
          entry = opened.entry;
        } else {
          entry = stored;
          path = `${prefix}/${entry.name}`;
        }
        if (entry.type === 'file') for (const id of entry.content) this.use(id, snapshotId, path);
        if (entry.type === 'dir') await visit(entry.subtree, path);
      }
    };
    await visit(snapshot.snapshot.tree, '');
  }

  affectedBy(blobs: { id: string }[]): { snapshot: string; paths: string[] }[] {
    const merged = new BlobUsers();
    for (const blob of blobs) {
      for (const [snapshot, paths] of this.blobs.get(blob.id)?.bySnapshot ?? []) for (const path of paths) merged.add(snapshot, path);
    }
    return merged.summary();
  }

  private use(blobId: string, snapshot: string, path: string): void {
    let users = this.blobs.get(blobId);
    if (!users) this.blobs.set(blobId, (users = new BlobUsers()));
    users.add(snapshot, path);
  }
}
