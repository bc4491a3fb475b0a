import type { BackupStatisticsData, BackupStatus, BackupType, RestoreStatus, SourceStatus, VerificationStatus } from '../../domain';
import { BackupsTable, JobAttemptsTable, RestoresTable, SourcesTable } from '../projections/read-model';

/**
 * API shapes of the read models. Statuses and types are the domain's value sets (BACKUP_STATUSES
 * and the like): REST validates against the same lists, and GraphQL's enums are made of them.
 * The read-model columns are text; only the projections write them, with these values.
 */
export interface SourceView {
  id: string;
  name: string;
  path: string;
  subjectRules: string[];
  dataCategories: string[];
  purposes: string[];
  status: SourceStatus;
  registeredAt: string;
  updatedAt: string;
}

export interface BackupView {
  id: string;
  sourceId: string;
  type: BackupType;
  status: BackupStatus;
  requestedAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  attempt: number;
  snapshotId: string | null;
  merkleRoot: string | null;
  /** As BackupCompleted recorded them: `problems` (counts by reason) is absent for backups made before it existed. */
  statistics: BackupStatisticsData | null;
  failure: { code: string | null; reason: string | null } | null;
  verification: { status: VerificationStatus; at: string | null };
  /** Set once the backup was deleted (its retention ran out, or an operator asked). */
  deletedAt: string | null;
  /** While running: the worker's last reported progress. */
  progress?: { filesDone: number; bytesDone: number; totalFiles: number; totalBytes: number } | null;
  /** On a single backup or restore: each attempt of its job, first to last. */
  attempts?: JobAttemptView[];
}

export interface RestoreView {
  id: string;
  backupId: string;
  sourceId: string;
  snapshotId: string;
  target: string;
  include: string[];
  purpose: string;
  /** An access request's data subject (pseudonym), or null for an ordinary restore. */
  subject: string | null;
  status: RestoreStatus;
  requestedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  files: number | null;
  bytes: number | null;
  /** Files and bytes left out because their data subject was erased. */
  skippedErased: { files: number; bytes: number } | null;
  failure: { code: string | null; reason: string | null } | null;
  progress?: { filesDone: number; bytesDone: number; totalFiles: number; totalBytes: number } | null;
  /** On a single restore: each attempt of its job, first to last. */
  attempts?: JobAttemptView[];
}

export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

export function sourceView(row: SourcesTable): SourceView {
  return {
    id: row.id,
    name: row.name,
    path: row.path,
    subjectRules: JSON.parse(row.subject_rules) as string[],
    dataCategories: JSON.parse(row.data_categories) as string[],
    purposes: JSON.parse(row.purposes) as string[],
    status: row.status as SourceStatus,
    registeredAt: row.registered_at,
    updatedAt: row.updated_at,
  };
}

export function backupView(row: BackupsTable): BackupView {
  return {
    id: row.id,
    sourceId: row.source_id,
    type: row.type as BackupType,
    status: row.status as BackupStatus,
    requestedAt: row.requested_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    attempt: Number(row.attempt),
    snapshotId: row.snapshot_id,
    merkleRoot: row.merkle_root,
    statistics: row.statistics ? (JSON.parse(row.statistics) as BackupStatisticsData) : null,
    failure: row.failure_code || row.failure_reason ? { code: row.failure_code, reason: row.failure_reason } : null,
    verification: { status: row.verification_status as VerificationStatus, at: row.verified_at },
    deletedAt: row.deleted_at,
  };
}

export function restoreView(row: RestoresTable): RestoreView {
  return {
    id: row.id,
    backupId: row.backup_id,
    sourceId: row.source_id,
    snapshotId: row.snapshot_id,
    target: row.target,
    include: JSON.parse(row.include) as string[],
    purpose: row.purpose,
    subject: row.subject_pseudonym,
    status: row.status as RestoreStatus,
    requestedAt: row.requested_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    files: row.files === null ? null : Number(row.files),
    bytes: row.bytes === null ? null : Number(row.bytes),
    skippedErased: row.skipped_files === null ? null : { files: Number(row.skipped_files), bytes: Number(row.skipped_bytes ?? 0) },
    failure: row.failure_code || row.failure_reason ? { code: row.failure_code, reason: row.failure_reason } : null,
  };
}

/**
 * One attempt of a job: the worker that took it (its WORKER_ID) and when, and how it ended when
 * it did not finish the job (`timed-out`, `lost`, `failed`, with the code); the attempt that
 * finished it has no outcome of its own, the backup's or restore's status is it.
 */
export interface JobAttemptView {
  attempt: number;
  worker: string | null;
  dispatchedAt: string | null;
  startedAt: string | null;
  endedAt: string | null;
  outcome: string | null;
  code: string | null;
}

export function jobAttemptView(row: JobAttemptsTable): JobAttemptView {
  return {
    attempt: Number(row.attempt),
    worker: row.worker,
    dispatchedAt: row.dispatched_at,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    outcome: row.outcome,
    code: row.code,
  };
}
