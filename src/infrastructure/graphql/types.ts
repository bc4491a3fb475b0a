import { Field, Float, ID, Int, ObjectType } from '@nestjs/graphql';
import type {
  AuditOutcome,
  AuditTargetType,
  BackupStatus,
  BackupType as BackupKind,
  ErasureStatus,
  RestoreStatus,
  SourceStatus,
  SubjectStatus,
  VerificationStatus,
} from '../../domain';
import {
  AuditOutcomeEnum,
  AuditTargetTypeEnum,
  BackupStatusEnum,
  BackupTypeEnum,
  ErasureStatusEnum,
  RestoreStatusEnum,
  SourceStatusEnum,
  SubjectStatusEnum,
  VerificationStatusEnum,
} from './enums';
import { BytesScalar, DateTimeScalar } from './scalars';

/**
 * GraphQL shapes of the same read-model views the REST API returns (application/queries/views);
 * view-checks.ts fails the build when a view and its type here have different fields. Statuses
 * and types are enums of the domain's value sets (enums.ts); times are DateTime and counts of
 * bytes Bytes (scalars.ts), a decimal string: GraphQL's Int stops at 2^31, a backup does not
 * (a backup's statistics included).
 */

/** Bytes as a value: the resolvers hand over numbers (or bigints), Bytes serialises them as strings. */
type ByteCount = number | bigint;

@ObjectType('Source')
export class SourceType {
  @Field(() => ID) id!: string;
  @Field() name!: string;
  @Field() path!: string;
  @Field(() => [String]) subjectRules!: string[];
  @Field(() => [String]) dataCategories!: string[];
  @Field(() => [String]) purposes!: string[];
  @Field(() => SourceStatusEnum) status!: SourceStatus;
  /** Null in a mutation's answer: the catalog sets them once the event is projected. */
  @Field(() => DateTimeScalar, { nullable: true }) registeredAt!: string | null;
  @Field(() => DateTimeScalar, { nullable: true }) updatedAt!: string | null;
}

@ObjectType('SourceRemoval')
export class SourceRemovalType {
  @Field(() => ID) id!: string;
  @Field(() => SourceStatusEnum) status!: SourceStatus;
}

@ObjectType('BackupCancellation')
export class BackupCancellationType {
  @Field(() => ID) id!: string;
  @Field(() => BackupStatusEnum) status!: BackupStatus;
}

@ObjectType('VerificationRequest')
export class VerificationRequestType {
  @Field(() => ID) id!: string;
  @Field() verificationId!: string;
  @Field(() => VerificationStatusEnum) verification!: VerificationStatus;
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
  @Field(() => BytesScalar, { nullable: true }) bytesRead?: ByteCount;
  @Field(() => BytesScalar, { nullable: true }) totalBytes?: ByteCount;
  @Field(() => BytesScalar, { nullable: true }) newBytes?: ByteCount;
  @Field(() => BytesScalar, { nullable: true }) storedBytes?: ByteCount;
  @Field(() => BytesScalar, { nullable: true }) duplicateBytes?: ByteCount;
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
  @Field(() => VerificationStatusEnum) status!: VerificationStatus;
  @Field(() => DateTimeScalar, { nullable: true }) at!: string | null;
}

@ObjectType('Progress', { description: "a running job's last reported progress" })
export class ProgressType {
  @Field(() => Int) filesDone!: number;
  @Field(() => BytesScalar) bytesDone!: ByteCount;
  @Field(() => Int) totalFiles!: number;
  @Field(() => BytesScalar) totalBytes!: ByteCount;
}

@ObjectType('JobAttempt', {
  description: "one attempt of a backup's or restore's job: the worker that took it, and how it ended if not with the job",
})
export class JobAttemptType {
  @Field(() => Int) attempt!: number;
  @Field(() => String, { nullable: true, description: "the worker's WORKER_ID" }) worker!: string | null;
  @Field(() => DateTimeScalar, { nullable: true, description: 'when it was handed out as a retry' }) dispatchedAt!: string | null;
  @Field(() => DateTimeScalar, { nullable: true }) startedAt!: string | null;
  @Field(() => DateTimeScalar, { nullable: true }) endedAt!: string | null;
  @Field(() => String, { nullable: true, description: 'timed-out, lost or failed; null for the attempt that ended the job' })
  outcome!: string | null;
  @Field(() => String, { nullable: true }) code!: string | null;
}

@ObjectType('Backup')
export class BackupType {
  @Field(() => ID) id!: string;
  @Field() sourceId!: string;
  @Field(() => BackupTypeEnum) type!: BackupKind;
  @Field(() => BackupStatusEnum) status!: BackupStatus;
  @Field(() => DateTimeScalar, { nullable: true }) requestedAt!: string | null;
  @Field(() => DateTimeScalar, { nullable: true }) startedAt!: string | null;
  @Field(() => DateTimeScalar, { nullable: true }) finishedAt!: string | null;
  @Field(() => Int) attempt!: number;
  @Field(() => String, { nullable: true }) snapshotId!: string | null;
  @Field(() => String, { nullable: true }) merkleRoot!: string | null;
  @Field(() => BackupStatisticsType, { nullable: true }) statistics!: BackupStatisticsType | null;
  @Field(() => FailureType, { nullable: true }) failure!: FailureType | null;
  @Field(() => VerificationType) verification!: VerificationType;
  @Field(() => DateTimeScalar, { nullable: true }) deletedAt!: string | null;
  @Field(() => ProgressType, { nullable: true, description: 'while it runs' }) progress?: ProgressType | null;
  @Field(() => [JobAttemptType], { nullable: true, description: 'on a single item: the attempts of its job' }) attempts?: JobAttemptType[];
}

@ObjectType('BackupPage')
export class BackupPageType {
  @Field(() => [BackupType]) items!: BackupType[];
  @Field(() => Int) total!: number;
}

@ObjectType('ErasedCounts')
export class ErasedCountsType {
  @Field(() => Int) files!: number;
  @Field(() => BytesScalar) bytes!: ByteCount;
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
  @Field(() => RestoreStatusEnum) status!: RestoreStatus;
  @Field(() => DateTimeScalar, { nullable: true }) requestedAt!: string | null;
  @Field(() => DateTimeScalar, { nullable: true }) startedAt!: string | null;
  @Field(() => DateTimeScalar, { nullable: true }) finishedAt!: string | null;
  @Field(() => Int, { nullable: true }) files!: number | null;
  @Field(() => BytesScalar, { nullable: true }) bytes!: ByteCount | null;
  @Field(() => ErasedCountsType, { nullable: true }) skippedErased!: ErasedCountsType | null;
  @Field(() => FailureType, { nullable: true }) failure!: FailureType | null;
  @Field(() => ProgressType, { nullable: true, description: 'while it runs' }) progress?: ProgressType | null;
  @Field(() => [JobAttemptType], { nullable: true, description: 'on a single item: the attempts of its job' }) attempts?: JobAttemptType[];
}

@ObjectType('Erasure')
export class ErasureType {
  @Field(() => ID) id!: string;
  @Field({ description: 'the data subject (pseudonym); the external id is never stored' }) subject!: string;
  @Field(() => ErasureStatusEnum) status!: ErasureStatus;
  @Field(() => Boolean, { nullable: true, description: 'set on a request: whether it repeated an earlier erasure' })
  repeated?: boolean;
  @Field(() => String, { nullable: true }) legalBasis?: string;
  @Field(() => String, { nullable: true }) requestedBy?: string;
  @Field(() => DateTimeScalar, { nullable: true }) requestedAt?: string;
  @Field(() => DateTimeScalar, { nullable: true }) completedAt?: string | null;
  @Field(() => Int, { nullable: true }) keysShredded?: number | null;
  @Field(() => FailureType, { nullable: true, description: 'set once the erasure failed' }) failure?: FailureType | null;
}

@ObjectType('BackupDeletion')
export class BackupDeletionType {
  @Field(() => ID) id!: string;
  @Field() deletionId!: string;
  @Field(() => BackupStatusEnum) status!: BackupStatus;
}

@ObjectType('AuditTarget')
export class AuditTargetObjectType {
  @Field(() => AuditTargetTypeEnum) type!: AuditTargetType;
  @Field() id!: string;
}

@ObjectType('AuditEntry')
export class AuditEntryType {
  @Field(() => Int) sequence!: number;
  @Field(() => DateTimeScalar) occurredAt!: string;
  @Field() actor!: string;
  @Field() role!: string;
  @Field() action!: string;
  @Field(() => AuditTargetObjectType) target!: AuditTargetObjectType;
  @Field(() => String, { nullable: true }) purpose!: string | null;
  @Field(() => AuditOutcomeEnum) outcome!: AuditOutcome;
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
  @Field(() => DateTimeScalar) completedAt!: string;
  @Field(() => Int) files!: number;
  @Field(() => BytesScalar) bytes!: ByteCount;
}

@ObjectType('SubjectTotals')
export class SubjectTotalsType {
  @Field(() => Int) backups!: number;
  @Field(() => Int) files!: number;
  @Field(() => BytesScalar) bytes!: ByteCount;
}

@ObjectType('SubjectData', { description: 'what Custodia holds of one data subject (GDPR Art. 15)' })
export class SubjectDataType {
  @Field({ description: 'the pseudonym' }) subject!: string;
  @Field(() => SubjectStatusEnum) status!: SubjectStatus;
  @Field(() => ErasureType, { nullable: true }) erasure!: ErasureType | null;
  @Field(() => [SubjectBackupType]) backups!: SubjectBackupType[];
  @Field(() => SubjectTotalsType) totals!: SubjectTotalsType;
}
