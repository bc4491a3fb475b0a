import { Field, Float, ID, Int, ObjectType } from '@nestjs/graphql';

/**
 * GraphQL shapes of the same read-model views the REST API returns (application/queries/views).
 * Counts of bytes are Float: GraphQL's Int stops at 2^31, a backup does not.
 */

@ObjectType('Source')
export class SourceType {
  @Field(() => ID) id!: string;
  @Field() name!: string;
  @Field() path!: string;
  @Field(() => [String]) subjectRules!: string[];
  @Field(() => [String]) dataCategories!: string[];
  @Field(() => [String]) purposes!: string[];
  @Field() status!: string;
  /** Null in a mutation's answer: the catalog sets them once the event is projected. */
  @Field(() => String, { nullable: true }) registeredAt!: string | null;
  @Field(() => String, { nullable: true }) updatedAt!: string | null;
}

@ObjectType('SourceRemoval')
export class SourceRemovalType {
  @Field(() => ID) id!: string;
  @Field() status!: string;
}

@ObjectType('BackupCancellation')
export class BackupCancellationType {
  @Field(() => ID) id!: string;
  @Field() status!: string;
}

@ObjectType('VerificationRequest')
export class VerificationRequestType {
  @Field(() => ID) id!: string;
  @Field() verificationId!: string;
  @Field() verification!: string;
}

@ObjectType('ProblemCounts', { description: 'what a backup skipped or found changing, by reason (absent: none)' })
export class ProblemCountsType {
  @Field(() => Int, { nullable: true, description: 'could not be read; not in the snapshot' }) unreadable?: number;
  @Field(() => Int, { nullable: true, description: 'changed while it was read; stored as read' }) changed?: number;
  @Field(() => Int, { nullable: true, description: 'a socket: skipped' }) socket?: number;
  @Field(() => Int, { nullable: true, description: 'stored, but some of its metadata could not be read' }) metadata?: number;
}

@ObjectType('BackupStatistics')
export class BackupStatisticsType {
  @Field(() => Int, { nullable: true }) files?: number;
  @Field(() => Int, { nullable: true }) directories?: number;
  @Field(() => Float, { nullable: true }) bytesRead?: number;
  @Field(() => Float, { nullable: true }) totalBytes?: number;
  @Field(() => Float, { nullable: true }) newBytes?: number;
  @Field(() => Float, { nullable: true }) storedBytes?: number;
  @Field(() => Float, { nullable: true }) duplicateBytes?: number;
  @Field(() => Int, { nullable: true }) chunks?: number;
  @Field(() => Float, { nullable: true }) durationMs?: number;
  @Field(() => Int, { nullable: true }) errors?: number;
  @Field(() => ProblemCountsType, { nullable: true, description: 'null for backups recorded before problems were counted' })
  problems?: ProblemCountsType;
}

@ObjectType('Failure')
export class FailureType {
  @Field(() => String, { nullable: true }) code!: string | null;
  @Field(() => String, { nullable: true }) reason!: string | null;
}

@ObjectType('Verification')
export class VerificationType {
  @Field() status!: string;
  @Field(() => String, { nullable: true }) at!: string | null;
}

@ObjectType('Backup')
export class BackupType {
  @Field(() => ID) id!: string;
  @Field() sourceId!: string;
  @Field() type!: string;
  @Field() status!: string;
  @Field(() => String, { nullable: true }) requestedAt!: string | null;
  @Field(() => String, { nullable: true }) startedAt!: string | null;
  @Field(() => String, { nullable: true }) finishedAt!: string | null;
  @Field(() => Int) attempt!: number;
  @Field(() => String, { nullable: true }) snapshotId!: string | null;
  @Field(() => String, { nullable: true }) merkleRoot!: string | null;
  @Field(() => BackupStatisticsType, { nullable: true }) statistics!: BackupStatisticsType | null;
  @Field(() => FailureType, { nullable: true }) failure!: FailureType | null;
  @Field(() => VerificationType) verification!: VerificationType;
  @Field(() => String, { nullable: true }) deletedAt!: string | null;
}

@ObjectType('BackupPage')
export class BackupPageType {
  @Field(() => [BackupType]) items!: BackupType[];
  @Field(() => Int) total!: number;
}

@ObjectType('ErasedCounts')
export class ErasedCountsType {
  @Field(() => Int) files!: number;
  @Field(() => Float) bytes!: number;
}

@ObjectType('Restore')
export class RestoreType {
  @Field(() => ID) id!: string;
  @Field() backupId!: string;
  @Field(() => String, { nullable: true }) sourceId!: string | null;
  @Field(() => String, { nullable: true }) snapshotId!: string | null;
  @Field() target!: string;
  @Field(() => [String]) include!: string[];
  @Field() purpose!: string;
  @Field(() => String, { nullable: true, description: 'an access request: the data subject (pseudonym)' }) subject!: string | null;
  @Field() status!: string;
  @Field(() => String, { nullable: true }) requestedAt!: string | null;
  @Field(() => String, { nullable: true }) finishedAt!: string | null;
  @Field(() => Int, { nullable: true }) files!: number | null;
  @Field(() => Float, { nullable: true }) bytes!: number | null;
  @Field(() => ErasedCountsType, { nullable: true }) skippedErased!: ErasedCountsType | null;
  @Field(() => FailureType, { nullable: true }) failure!: FailureType | null;
}

@ObjectType('Erasure')
export class ErasureType {
  @Field(() => ID) id!: string;
  @Field({ description: 'the data subject (pseudonym); the external id is never stored' }) subject!: string;
  @Field() status!: string;
  @Field(() => Boolean, { nullable: true, description: 'set on a request: whether it repeated an earlier erasure' })
  repeated?: boolean;
  @Field(() => String, { nullable: true }) legalBasis?: string;
  @Field(() => String, { nullable: true }) requestedBy?: string;
  @Field(() => String, { nullable: true }) requestedAt?: string;
  @Field(() => String, { nullable: true }) completedAt?: string | null;
  @Field(() => Int, { nullable: true }) keysShredded?: number | null;
}

@ObjectType('BackupDeletion')
export class BackupDeletionType {
  @Field(() => ID) id!: string;
  @Field() deletionId!: string;
  @Field() status!: string;
}

@ObjectType('AuditTarget')
export class AuditTargetType {
  @Field() type!: string;
  @Field() id!: string;
}

@ObjectType('AuditEntry')
export class AuditEntryType {
  @Field(() => Int) sequence!: number;
  @Field() occurredAt!: string;
  @Field() actor!: string;
  @Field() role!: string;
  @Field() action!: string;
  @Field(() => AuditTargetType) target!: AuditTargetType;
  @Field(() => String, { nullable: true }) purpose!: string | null;
  @Field() outcome!: string;
  @Field(() => String, { nullable: true, description: 'ids, counts and codes, as JSON' }) details!: string | null;
  @Field(() => String, { nullable: true }) subjectPseudonym!: string | null;
  @Field() correlationId!: string;
  @Field() hash!: string;
  @Field() previousHash!: string;
}

@ObjectType('AuditPage')
export class AuditPageType {
  @Field(() => [AuditEntryType]) items!: AuditEntryType[];
  @Field(() => Int) total!: number;
}

@ObjectType('AuditVerification')
export class AuditVerificationType {
  @Field() valid!: boolean;
  @Field(() => Int) entries!: number;
  @Field(() => Int, { nullable: true }) firstBrokenEntry?: number;
}

@ObjectType('RestorePage')
export class RestorePageType {
  @Field(() => [RestoreType]) items!: RestoreType[];
  @Field(() => Int) total!: number;
}

@ObjectType('SubjectBackup')
export class SubjectBackupType {
  @Field() backupId!: string;
  @Field(() => String, { nullable: true }) sourceId!: string | null;
  @Field() snapshotId!: string;
  @Field() completedAt!: string;
  @Field(() => Int) files!: number;
  @Field(() => Float) bytes!: number;
}

@ObjectType('SubjectTotals')
export class SubjectTotalsType {
  @Field(() => Int) backups!: number;
  @Field(() => Int) files!: number;
  @Field(() => Float) bytes!: number;
}

@ObjectType('SubjectData', { description: 'what Custodia holds of one data subject (GDPR Art. 15)' })
export class SubjectDataType {
  @Field({ description: 'the pseudonym' }) subject!: string;
  @Field({ description: 'active, erasure-requested, erased or unknown' }) status!: string;
  @Field(() => ErasureType, { nullable: true }) erasure!: ErasureType | null;
  @Field(() => [SubjectBackupType]) backups!: SubjectBackupType[];
  @Field(() => SubjectTotalsType) totals!: SubjectTotalsType;
}
