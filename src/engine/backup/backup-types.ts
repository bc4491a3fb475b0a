import { Snapshot } from '../repository/format';
import { Pseudonymiser } from '../subjects/pseudonym';
import { BlobSaverOptions } from './blob-saver';
import { BackupProblem } from './problems';

export type { BackupProblem } from './problems';

export interface BackupProgress {
  filesDone: number;
  bytesDone: number;
  totalFiles: number;
  totalBytes: number;
  currentFile: string | null;
}

export interface BackupSubjects {
  /** Path templates relative to the source root, e.g. `customers/{subject}/**` (see SubjectRules). */
  rules: string[];
  /**
   * Turns a subject's external id (the name matched by `{subject}`) into the pseudonym the
   * repository stores (the service uses HMAC-SHA256 with a secret: see hmacPseudonymiser).
   */
  pseudonymise: Pseudonymiser;
}

export interface BackupOptions extends BlobSaverOptions {
  /** Re-read every file instead of trusting size, mtime and inode from the parent snapshot. */
  full?: boolean;
  tags?: string[];
  onProgress?: (progress: BackupProgress) => void;
  /**
   * Files and folders that belong to data subjects: stored under each subject's own key with
   * their tree entries sealed, so that shredding the key erases them from every backup.
   */
  subjects?: BackupSubjects;
  /**
   * Stops the backup at the next file or chunk, with CANCELLED. No snapshot is written; the packs
   * stored so far are indexed (later backups deduplicate against them) until a prune drops them.
   */
  signal?: AbortSignal;
}

/** What a backup stored of one data subject, by pseudonym. */
export interface BackupSubjectTotals {
  pseudonym: string;
  files: number;
  bytes: number;
  /** The backup created the subject's key (its first backup, or the first after an erasure). */
  keyCreated: boolean;
}

export interface BackupError {
  path: string;
  message: string;
}

export interface BackupResult {
  snapshotId: string;
  snapshot: Snapshot;
  parent: string | null;
  /** The `unreadable` problems: entries not in the snapshot (paths below the source root). */
  errors: BackupError[];
  /** Everything the backup skipped or found changing, as recorded in the snapshot. */
  problems: BackupProblem[];
  /** True when some entries could not be read: the snapshot holds everything else. */
  incomplete: boolean;
  /** Things the operator should know that did not stop the backup. */
  warnings: string[];
  /** Data subjects found, in pseudonym order (empty without subject rules). */
  subjects: BackupSubjectTotals[];
}
