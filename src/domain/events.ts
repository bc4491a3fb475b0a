/**
 * Domain events: the facts Custodia records. Payloads hold ids, counts, hashes and operator
 * configuration (a source's folder, a restore target); never file contents or names found
 * inside a backup. Each event type has a schema version; a change to a payload's shape gets a
 * new version and an upcaster (DOMAIN_UPCASTERS in upcasting.ts), never an edit of stored events.
 */
export interface BackupStatisticsData {
  files: number;
  directories: number;
  bytesRead: number;
  totalBytes: number;
  newBytes: number;
  storedBytes: number;
  duplicateBytes: number;
  chunks: number;
  durationMs: number;
  /** Entries that could not be read and are not in the snapshot (`problems.unreadable`). */
  errors: number;
  /**
   * What the backup skipped or found changing, counted by reason (the paths are only in the
   * encrypted snapshot: GET /backups/:id/errors). Absent in events recorded before it existed,
   * which replay as they are: an optional field added within schema version 1.
   */
  problems?: ProblemCountsData;
}

/**
 * Why an entry is in a snapshot's problem list: `unreadable` (not in the snapshot), `changed`
 * (its size or mtime changed while it was read), `socket` (skipped), `metadata` (stored, some of
 * its metadata unreadable). The same reasons as the engine's.
 */
export const PROBLEM_REASONS = ['unreadable', 'changed', 'socket', 'metadata'] as const;
export type ProblemReasonData = (typeof PROBLEM_REASONS)[number];
/** Only reasons that occurred are present; each a positive count. */
export type ProblemCountsData = Partial<Record<ProblemReasonData, number>>;

/** The problem counts in `value`, reason by reason (anything else is dropped, never copied into an event). */
export function problemCountsOf(value: unknown): ProblemCountsData {
  const counts: ProblemCountsData = {};
  if (typeof value !== 'object' || value === null) return counts;
  for (const reason of PROBLEM_REASONS) {
    const count = (value as Record<string, unknown>)[reason];
    if (Number.isInteger(count) && (count as number) > 0) counts[reason] = count as number;
  }
  return counts;
}

export interface SourceLists {
  subjectRules?: string[];
  dataCategories?: string[];
  purposes?: string[];
}

/** What a backup reads: everything (`full`), or only what changed since the last one (`incremental`). */
export const BACKUP_TYPES = ['full', 'incremental'] as const;
export type BackupType = (typeof BACKUP_TYPES)[number];

/**
 * What one backup holds of one data subject (by pseudonym): counts from the subject's sealed
 * entries, and whether the backup created the subject's key (a key operation, audited).
 */
export interface BackupSubjectData {
  subject: string;
  files: number;
  bytes: number;
  keyCreated: boolean;
}

export interface FailureData {
  code: string;
  reason: string;
  retryable: boolean;
}

/** The failure fields of a command, for its event: exactly these three, nothing else it carries. */
export function failureOf({ code, reason, retryable }: FailureData): FailureData {
  return { code, reason, retryable };
}

/**
 * Why a backup's snapshot is deleted: its retention ran out, or an operator asked; or
 * `discard`: a worker finished a backup after it had been cancelled or failed, and the snapshot
 * it wrote belongs to no backup in the catalog (left alone, retention would never reach it).
 */
export type DeletionReason = 'retention' | 'operator' | 'discard';

/** What a prune removed: blobs (those of erased data subjects among them) and bytes. */
export interface PruneSummaryData {
  blobsRemoved: number;
  erasedBlobsRemoved: number;
  bytesFreed: number;
}

export type DomainEvent =
  /**
   * The lists are present only when set: subjectRules (path templates such as
   * customers/{subject}/**), and for the record of processing (Art. 30) the categories of
   * personal data the folder holds and the purposes it is backed up for.
   */
  | { type: 'SourceRegistered'; data: { sourceId: string; name: string; path: string; at: string } & SourceLists }
  | { type: 'SourceUpdated'; data: { sourceId: string; name?: string; path?: string; at: string } & SourceLists }
  | { type: 'SourceRemoved'; data: { sourceId: string; at: string } }
  | { type: 'BackupRequested'; data: { backupId: string; sourceId: string; backupType: BackupType; at: string } }
  | { type: 'BackupStarted'; data: { backupId: string; jobId: string; attempt: number; at: string } }
  | {
      type: 'BackupCompleted';
      /** subjects: present when the source has subject rules (one item per data subject found). */
      data: {
        backupId: string;
        jobId: string;
        snapshotId: string;
        merkleRoot: string;
        statistics: BackupStatisticsData;
        subjects?: BackupSubjectData[];
        at: string;
      };
    }
  /**
   * Someone read the list of what the backup skipped or found changing (GET /backups/:id/errors):
   * the paths in it can name a person, so the read is recorded, with the snapshot read.
   */
  | { type: 'BackupProblemsRead'; data: { backupId: string; readId: string; snapshotId: string; at: string } }
  | { type: 'BackupFailed'; data: { backupId: string; jobId: string | null; at: string } & FailureData }
  | { type: 'BackupCancelled'; data: { backupId: string; reason: string; at: string } }
  | { type: 'BackupVerificationRequested'; data: { backupId: string; verificationId: string; at: string } }
  | { type: 'BackupVerified'; data: { backupId: string; verificationId: string; blobsChecked: number; bytesChecked: number; at: string } }
  | { type: 'BackupVerificationFailed'; data: { backupId: string; verificationId: string; at: string } & FailureData }
  /**
   * Deletion of a completed backup: by the retention policy (requestedBy system:retention) or an
   * operator; or the discarding of a snapshot written after its backup was cancelled or had
   * failed (reason `discard`: the backup keeps its status). BackupDeleted: the snapshot is gone from the repository; `prune` says what the
   * worker's prune freed right after (null when another operation held the repository, and the
   * data goes at a later prune).
   */
  | {
      type: 'BackupDeletionRequested';
      data: { backupId: string; deletionId: string; snapshotId: string; reason: DeletionReason; at: string };
    }
  | { type: 'BackupDeleted'; data: { backupId: string; deletionId: string; jobId: string; prune: PruneSummaryData | null; at: string } }
  | { type: 'BackupDeletionFailed'; data: { backupId: string; deletionId: string; jobId: string | null; at: string } & FailureData }
  | {
      type: 'RestoreRequested';
      data: {
        restoreId: string;
        backupId: string;
        sourceId: string;
        snapshotId: string;
        target: string;
        include: string[];
        purpose: string;
        /** Set for a subject access request: only this subject's (pseudonym's) files are restored. */
        subject?: string;
        at: string;
      };
    }
  | { type: 'RestoreStarted'; data: { restoreId: string; jobId: string; attempt: number; at: string } }
  | {
      type: 'RestoreCompleted';
      /** skippedErased: files and bytes left out because their data subject was erased (when any). */
      data: {
        restoreId: string;
        jobId: string;
        files: number;
        bytes: number;
        skippedErased?: { files: number; bytes: number };
        at: string;
      };
    }
  | { type: 'RestoreFailed'; data: { restoreId: string; jobId: string | null; at: string } & FailureData }
  /**
   * Erasure of a data subject (GDPR Art. 17), on the stream of the subject's pseudonym. The
   * external id is never stored; requestedBy names the requester (a role or staff id).
   */
  | { type: 'ErasureRequested'; data: { erasureId: string; subject: string; legalBasis: string; requestedBy: string; at: string } }
  /** prune: what the worker's prune right after the shredding freed (null: it could not run then). */
  | {
      type: 'SubjectKeyShredded';
      data: { erasureId: string; subject: string; jobId: string; keysShredded: number; prune?: PruneSummaryData | null; at: string };
    }
  | { type: 'ErasureCompleted'; data: { erasureId: string; subject: string; at: string } }
  /** Someone looked up what Custodia holds of the subject (Art. 15): an access, so it is recorded. */
  | { type: 'SubjectDataLookedUp'; data: { lookupId: string; subject: string; purpose: string; at: string } }
  | { type: 'ErasureFailed'; data: { erasureId: string; subject: string; jobId: string | null; at: string } & FailureData }
  /** A worker (by its WORKER_ID) took attempt `attempt` of a job (stream job-<jobId>, see job.ts). */
  | { type: 'JobAttemptStarted'; data: JobEventIdentity & { attempt: number; worker: string | null; at: string } }
  /** An attempt that did not finish its job: its worker went silent (`timed-out`), the service restarted (`lost`), or it failed. */
  | {
      type: 'JobAttemptEnded';
      data: JobEventIdentity & { attempt: number; outcome: 'timed-out' | 'lost' | 'failed'; code: string; retryable: boolean; at: string };
    }
  /** The job handed out again as attempt `attempt`, after `delayMs`. */
  | { type: 'JobRedispatched'; data: JobEventIdentity & { attempt: number; delayMs: number; at: string } };

/** The job, its kind and the aggregate (backup, restore, erasure) it works for. */
export interface JobEventIdentity {
  jobId: string;
  kind: string;
  aggregateId: string;
}

export type DomainEventType = DomainEvent['type'];
export type EventOf<T extends DomainEventType> = Extract<DomainEvent, { type: T }>;

/** Current schema version of each event type: what is written, and what reads are upcast to (upcasting.ts). */
export const EVENT_SCHEMA_VERSION: Record<DomainEventType, number> = {
  SourceRegistered: 1,
  SourceUpdated: 1,
  SourceRemoved: 1,
  BackupRequested: 1,
  BackupStarted: 1,
  BackupCompleted: 1,
  BackupFailed: 1,
  BackupProblemsRead: 1,
  BackupCancelled: 1,
  BackupVerificationRequested: 1,
  BackupVerified: 1,
  BackupVerificationFailed: 1,
  BackupDeletionRequested: 1,
  BackupDeleted: 1,
  BackupDeletionFailed: 1,
  RestoreRequested: 1,
  RestoreStarted: 1,
  RestoreCompleted: 1,
  RestoreFailed: 1,
  ErasureRequested: 1,
  SubjectKeyShredded: 1,
  ErasureCompleted: 1,
  SubjectDataLookedUp: 1,
  ErasureFailed: 1,
  JobAttemptStarted: 1,
  JobAttemptEnded: 1,
  JobRedispatched: 1,
};
