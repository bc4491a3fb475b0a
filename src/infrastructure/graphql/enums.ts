import { registerEnumType } from '@nestjs/graphql';
import {
  AUDIT_OUTCOMES,
  AUDIT_TARGET_TYPES,
  BACKUP_STATUSES,
  BACKUP_TYPES,
  ERASURE_STATUSES,
  RESTORE_STATUSES,
  SOURCE_STATUSES,
  SUBJECT_STATUSES,
  VERIFICATION_STATUSES,
} from '../../domain';

/** What GraphQL accepts as an enum value's name (and true, false and null are not allowed). */
const GRAPHQL_NAME = /^[_A-Za-z][_0-9A-Za-z]*$/;

/**
 * The name GraphQL shows for a domain value: the value itself where it is a valid name, else
 * the value with its hyphens as underscores (`erasure-requested` is `erasure_requested`). The
 * value behind the name stays the domain's, so resolvers and queries see the same strings as REST.
 */
export function graphQLEnumName(value: string): string {
  const name = GRAPHQL_NAME.test(value) ? value : value.replace(/-/g, '_');
  if (!GRAPHQL_NAME.test(name) || ['true', 'false', 'null'].includes(name)) {
    throw new Error(`"${value}" has no GraphQL enum name; give it one in graphql/enums.ts`);
  }
  return name;
}

/** The enum object registerEnumType takes (name → value), made of a domain value set. */
export function graphQLEnum<T extends string>(values: readonly T[]): Record<string, T> {
  const members: Record<string, T> = {};
  for (const value of values) {
    const name = graphQLEnumName(value);
    if (name in members) throw new Error(`"${members[name]}" and "${value}" have the same GraphQL enum name ${name}`);
    members[name] = value;
  }
  return members;
}

/**
 * GraphQL's enums, each made of the domain's value set (src/domain), the same lists the REST
 * DTOs validate against: a field or argument of one of these types refuses any other value at
 * validation, before a resolver runs.
 */
export const BackupTypeEnum = graphQLEnum(BACKUP_TYPES);
export const BackupStatusEnum = graphQLEnum(BACKUP_STATUSES);
export const VerificationStatusEnum = graphQLEnum(VERIFICATION_STATUSES);
export const RestoreStatusEnum = graphQLEnum(RESTORE_STATUSES);
export const SourceStatusEnum = graphQLEnum(SOURCE_STATUSES);
export const ErasureStatusEnum = graphQLEnum(ERASURE_STATUSES);
export const SubjectStatusEnum = graphQLEnum(SUBJECT_STATUSES);
export const AuditOutcomeEnum = graphQLEnum(AUDIT_OUTCOMES);
export const AuditTargetTypeEnum = graphQLEnum(AUDIT_TARGET_TYPES);

registerEnumType(BackupTypeEnum, { name: 'BackupType', description: 'full, or incremental (only what changed since the last backup)' });
registerEnumType(BackupStatusEnum, { name: 'BackupStatus' });
registerEnumType(VerificationStatusEnum, { name: 'VerificationStatus', description: 'none: never asked for' });
registerEnumType(RestoreStatusEnum, { name: 'RestoreStatus' });
registerEnumType(SourceStatusEnum, { name: 'SourceStatus' });
registerEnumType(ErasureStatusEnum, { name: 'ErasureStatus' });
registerEnumType(SubjectStatusEnum, {
  name: 'SubjectStatus',
  description: 'erasure_requested is REST’s erasure-requested',
});
registerEnumType(AuditOutcomeEnum, {
  name: 'AuditOutcome',
  description: 'accepted: work was requested; completed or failed: how it ended',
});
registerEnumType(AuditTargetTypeEnum, { name: 'AuditTargetType', description: 'subject_key is REST’s subject-key' });
