import { Inject } from '@nestjs/common';
import { IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import { DomainError, ErasureStatus, SubjectStatus } from '../../domain';
import { ErasuresTable, ReadModel } from '../projections/read-model';
import { READ_MODEL } from '../tokens';

export interface ErasureView {
  id: string;
  /** The subject's pseudonym: the external id is never stored. */
  subject: string;
  legalBasis: string;
  requestedBy: string;
  status: ErasureStatus;
  requestedAt: string;
  completedAt: string | null;
  keysShredded: number | null;
  failure: { code: string | null; reason: string | null } | null;
}

export interface SubjectBackupView {
  backupId: string;
  sourceId: string | null;
  snapshotId: string;
  completedAt: string;
  files: number;
  bytes: number;
}

/** What Custodia holds of one data subject (GDPR Art. 15), and whether the subject was erased. */
export interface SubjectDataView {
  subject: string;
  /**
   * 'erased': the keys are destroyed and the backups below can no longer be read for this subject;
   * 'active' after an erasure: a later backup found the subject's files in the source again.
   */
  status: SubjectStatus;
  erasure: ErasureView | null;
  backups: SubjectBackupView[];
  totals: { backups: number; files: number; bytes: number };
}

export class GetErasureQuery {
  constructor(readonly id: string) {}
}

export class GetSubjectDataQuery {
  constructor(readonly pseudonym: string) {}
}

function erasureView(row: ErasuresTable): ErasureView {
  return {
    id: row.id,
    subject: row.subject_pseudonym,
    legalBasis: row.legal_basis,
    requestedBy: row.requested_by,
    status: row.status as ErasureStatus,
    requestedAt: row.requested_at,
    completedAt: row.completed_at,
    keysShredded: row.keys_shredded === null ? null : Number(row.keys_shredded),
    failure: row.status === 'failed' ? { code: row.failure_code, reason: row.failure_reason } : null,
  };
}

@QueryHandler(GetErasureQuery)
export class GetErasureHandler implements IQueryHandler<GetErasureQuery, ErasureView> {
  constructor(@Inject(READ_MODEL) private readonly db: ReadModel) {}

  async execute({ id }: GetErasureQuery): Promise<ErasureView> {
    const row = await this.db.selectFrom('erasures').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new DomainError('NOT_FOUND', `erasure ${id} does not exist`);
    return erasureView(row);
  }
}

@QueryHandler(GetSubjectDataQuery)
export class GetSubjectDataHandler implements IQueryHandler<GetSubjectDataQuery, SubjectDataView> {
  constructor(@Inject(READ_MODEL) private readonly db: ReadModel) {}

  async execute({ pseudonym }: GetSubjectDataQuery): Promise<SubjectDataView> {
    const rows = await this.db
      .selectFrom('subject_backups')
      .leftJoin('backups', 'backups.id', 'subject_backups.backup_id')
      .select([
        'subject_backups.backup_id',
        'subject_backups.snapshot_id',
        'subject_backups.completed_at',
        'subject_backups.files',
        'subject_backups.bytes',
        'backups.source_id',
      ])
      .where('subject_backups.subject_pseudonym', '=', pseudonym)
      .orderBy('subject_backups.completed_at')
      .orderBy('subject_backups.backup_id')
      .execute();
    const backups = rows.map((row) => ({
      backupId: row.backup_id,
      sourceId: row.source_id ?? null,
      snapshotId: row.snapshot_id,
      completedAt: row.completed_at,
      files: Number(row.files),
      bytes: Number(row.bytes),
    }));
    // The erasure that counts is the last one that did not fail (a failed one may be requested again).
    const erasures = await this.db
      .selectFrom('erasures')
      .selectAll()
      .where('subject_pseudonym', '=', pseudonym)
      .orderBy('requested_at', 'desc')
      .execute();
    const erasure = erasures.find((row) => row.status !== 'failed') ?? erasures[0];
    const status = subjectStatus(erasure, backups);
    return {
      subject: pseudonym,
      status,
      erasure: erasure ? erasureView(erasure) : null,
      backups,
      totals: {
        backups: backups.length,
        files: backups.reduce((sum, b) => sum + b.files, 0),
        bytes: backups.reduce((sum, b) => sum + b.bytes, 0),
      },
    };
  }
}

/**
 * Erased once an erasure completed, unless a later backup found the subject's files in the source
 * again (they are then under a new key, readable: active); otherwise active if any backup holds
 * data of the subject.
 */
function subjectStatus(erasure: ErasuresTable | undefined, backups: SubjectBackupView[]): SubjectDataView['status'] {
  if (erasure?.status === 'requested') return 'erasure-requested';
  const erasedAt = erasure?.status === 'completed' ? erasure.completed_at : null;
  if (erasedAt !== null && !backups.some((backup) => backup.completedAt > erasedAt)) return 'erased';
  return backups.length > 0 ? 'active' : 'unknown';
}

export const SUBJECT_QUERY_HANDLERS = [GetErasureHandler, GetSubjectDataHandler];
