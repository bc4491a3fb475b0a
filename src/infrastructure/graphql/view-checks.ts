import type { AuditEntryView } from '../../application/queries/audit.queries';
import type { ErasureView, SubjectBackupView, SubjectDataView } from '../../application/queries/subject.queries';
import type { BackupView, RestoreView, SourceView } from '../../application/queries/views';
import type { BackupStatisticsData, ProblemCountsData } from '../../domain';
import type {
  AuditEntryType,
  AuditTargetObjectType,
  BackupStatisticsType,
  BackupType,
  ErasedCountsType,
  ErasureType,
  FailureType,
  ProblemCountsType,
  JobAttemptType,
  ProgressType,
  RestoreType,
  SourceType,
  SubjectBackupType,
  SubjectDataType,
  SubjectTotalsType,
  VerificationType,
} from './types';

/**
 * Compile-time checks that each GraphQL object type (types.ts) has exactly the fields of the
 * read view it shows: a field added to a view and not to GraphQL, or the other way round, fails
 * `tsc` here, naming the field. Nothing in this file runs.
 *
 * `Omitted` lists view fields GraphQL leaves out on purpose, `Extra` GraphQL fields with no view
 * field (a mutation's answer); each use says why.
 */
export type SameKeys<View, Gql, Omitted extends keyof View = never, Extra extends keyof Gql = never> = [
  Exclude<keyof View, Omitted>,
] extends [Exclude<keyof Gql, Extra>]
  ? [Exclude<keyof Gql, Extra>] extends [Exclude<keyof View, Omitted>]
    ? true
    : { notInView: Exclude<Exclude<keyof Gql, Extra>, keyof View> }
  : { missingInGraphQL: Exclude<Exclude<keyof View, Omitted>, keyof Gql> };

/** Fails to compile unless its argument is `true`; the error shows the fields that differ. */
export type AssertSameKeys<Result extends true> = Result;

type Defined<T> = Exclude<T, null | undefined>;

export type ViewChecks = [
  AssertSameKeys<SameKeys<SourceView, SourceType>>,
  AssertSameKeys<SameKeys<BackupView, BackupType>>,
  AssertSameKeys<SameKeys<BackupStatisticsData, BackupStatisticsType>>,
  AssertSameKeys<SameKeys<ProblemCountsData, ProblemCountsType>>,
  AssertSameKeys<SameKeys<Defined<BackupView['failure']>, FailureType>>,
  AssertSameKeys<SameKeys<BackupView['verification'], VerificationType>>,
  AssertSameKeys<SameKeys<Defined<BackupView['progress']>, ProgressType>>,
  AssertSameKeys<SameKeys<Defined<BackupView['attempts']>[number], JobAttemptType>>,
  AssertSameKeys<SameKeys<RestoreView, RestoreType>>,
  AssertSameKeys<SameKeys<Defined<RestoreView['skippedErased']>, ErasedCountsType>>,
  AssertSameKeys<SameKeys<Defined<RestoreView['progress']>, ProgressType>>,
  // `repeated` is only in requestErasure's answer: whether the request repeated an earlier erasure.
  // legalBasis and requestedBy are optional there, and present on every erasure read.
  AssertSameKeys<SameKeys<ErasureView, ErasureType, never, 'repeated'>>,
  AssertSameKeys<SameKeys<SubjectDataView, SubjectDataType>>,
  AssertSameKeys<SameKeys<SubjectBackupView, SubjectBackupType>>,
  AssertSameKeys<SameKeys<SubjectDataView['totals'], SubjectTotalsType>>,
  // The entry's place in the event log and its causation are for the chain's verification and
  // the REST export; GraphQL shows the entry itself.
  AssertSameKeys<SameKeys<AuditEntryView, AuditEntryType, 'eventId' | 'eventPosition' | 'causationId'>>,
  AssertSameKeys<SameKeys<AuditEntryView['target'], AuditTargetObjectType>>,
];
