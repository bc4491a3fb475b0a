import { applyDecorators } from '@nestjs/common';
import { Field, InputType } from '@nestjs/graphql';
import { Transform, Type } from 'class-transformer';
import {
  BACKUP_STATUSES,
  BACKUP_TYPES,
  PROBLEM_REASONS,
  RESTORE_STATUSES,
  type BackupStatus,
  type BackupType,
  type ProblemReasonData,
  type RestoreStatus,
} from '../../domain';
import { BackupTypeEnum } from '../graphql/enums';
import {
  ArrayMaxSize,
  IsArray,
  IsIn,
  IsInt,
  IsISO8601,
  IsNotEmpty,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateIf,
} from 'class-validator';

const ABSOLUTE_PATH = /^\/[^\0]*$/;

/**
 * An optional body field: it may be left out, but not sent as null. class-validator's
 * @IsOptional() skips every check for null too, and a null that gets through ends up in an
 * event (a BackupRequested with type null, a SourceUpdated with name null) that no projection
 * can store. Query parameters are never null and keep @IsOptional().
 */
const OptionalField = () => ValidateIf((_object, value) => value !== undefined);

/** An optional list of strings (subject rules, include paths), bounded in count and length. */
const OptionalStringList = (maxItems: number, maxLength: number) =>
  applyDecorators(OptionalField(), IsArray(), ArrayMaxSize(maxItems), IsString({ each: true }), MaxLength(maxLength, { each: true }));

/** UUIDs in bodies and queries are compared as stored, in lower case (as ResourceIdPipe does for routes). */
const LowerCase = () => Transform(({ value }) => (typeof value === 'string' ? value.toLowerCase() : value));

/** The lists a source carries, each optional on creation and on update. */
@InputType({ isAbstract: true })
class SourceListsDto {
  /** Path templates naming the data subject, e.g. customers/{subject}/** (checked by the engine's parser). */
  @Field(() => [String], { nullable: true })
  @OptionalStringList(50, 500)
  subjectRules?: string[];

  /** Categories of personal data the folder holds, e.g. "contact details" (record of processing, Art. 30). */
  @Field(() => [String], { nullable: true })
  @OptionalStringList(50, 200)
  dataCategories?: string[];

  /** Why it is backed up, e.g. "business continuity" (record of processing, Art. 30). */
  @Field(() => [String], { nullable: true })
  @OptionalStringList(20, 500)
  purposes?: string[];
}

/** Also GraphQL's RegisterSourceInput: one class, one set of rules for both APIs. */
@InputType('RegisterSourceInput')
export class CreateSourceDto extends SourceListsDto {
  @Field()
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  name!: string;

  @Field()
  @IsString()
  @MaxLength(4096)
  @Matches(ABSOLUTE_PATH, { message: 'path must be an absolute path' })
  path!: string;
}

/** Also GraphQL's UpdateSourceInput: every field optional, only those given change. */
@InputType('UpdateSourceInput')
export class UpdateSourceDto extends SourceListsDto {
  @Field(() => String, { nullable: true })
  @OptionalField()
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  name?: string;

  @Field(() => String, { nullable: true })
  @OptionalField()
  @IsString()
  @MaxLength(4096)
  @Matches(ABSOLUTE_PATH, { message: 'path must be an absolute path' })
  path?: string;
}

@InputType('RequestBackupInput')
export class RequestBackupDto {
  @Field()
  @LowerCase()
  @IsUUID()
  sourceId!: string;

  @Field(() => BackupTypeEnum, { nullable: true, description: 'full or incremental (the default)' })
  @OptionalField()
  @IsIn(BACKUP_TYPES)
  type: BackupType = 'incremental';
}

export class CancelBackupDto {
  @OptionalField()
  @IsString()
  @MaxLength(500)
  reason?: string;
}

/**
 * A data subject's external id as it appears in a source's folder names (the part a subject
 * rule's {subject} matches): one path component. It is turned into a pseudonym at once and never
 * stored or logged.
 */
const SubjectId = () =>
  applyDecorators(
    IsString(),
    IsNotEmpty(),
    MaxLength(255),
    Matches(/^(?!\.\.?$)[^/\0]+$/, { message: 'subjectId must be one folder name, as the subject rule matches it' }),
  );

@InputType('RequestErasureInput')
export class RequestErasureDto {
  @Field()
  @SubjectId()
  subjectId!: string;

  /** Why the data must be erased, e.g. "GDPR Art. 17(1)(b): consent withdrawn". */
  @Field()
  @IsString()
  @IsNotEmpty()
  @MaxLength(500)
  legalBasis!: string;

  /** Who asked: a role or staff id (e.g. dpo:jane), or data-subject. */
  @Field()
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  requestedBy!: string;
}

@InputType('SubjectLookupInput')
export class SubjectLookupDto {
  @Field({ description: 'the external id, as the folder name a subject rule matched' })
  @SubjectId()
  subjectId!: string;
}

@InputType('RequestRestoreInput')
export class RequestRestoreDto {
  @Field()
  @LowerCase()
  @IsUUID()
  backupId!: string;

  @Field()
  @IsString()
  @MaxLength(4096)
  @Matches(ABSOLUTE_PATH, { message: 'target must be an absolute path' })
  target!: string;

  @Field(() => [String], { nullable: true })
  @OptionalStringList(1000, 4096)
  include?: string[];

  @Field(() => String, { nullable: true })
  @OptionalField()
  @IsString()
  @MaxLength(500)
  purpose?: string;

  /** An access request (Art. 15): restore only this data subject's files. */
  @Field(() => String, { nullable: true })
  @OptionalField()
  @SubjectId()
  subjectId?: string;
}

export class PageQueryDto {
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(500)
  limit: number = 50;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  // 1e308 is an integer to JavaScript, not to SQLite (SQLITE_MISMATCH, once a 500).
  @Max(Number.MAX_SAFE_INTEGER)
  offset: number = 0;
}

export class ListBackupsQueryDto extends PageQueryDto {
  @IsOptional()
  @LowerCase()
  @IsUUID()
  sourceId?: string;

  @IsOptional()
  @IsIn(BACKUP_STATUSES)
  status?: BackupStatus;

  @IsOptional()
  @IsISO8601()
  from?: string;

  @IsOptional()
  @IsISO8601()
  to?: string;
}

export class ListBackupProblemsQueryDto extends PageQueryDto {
  @IsOptional()
  @IsIn(PROBLEM_REASONS)
  reason?: ProblemReasonData;
}

export class ListRestoresQueryDto extends PageQueryDto {
  @IsOptional()
  @LowerCase()
  @IsUUID()
  backupId?: string;

  /** A restore's own statuses only: a backup's (cancelled, deleting, deleted) never match one. */
  @IsOptional()
  @IsIn(RESTORE_STATUSES)
  status?: RestoreStatus;
}

export class ListSourcesQueryDto {
  @IsOptional()
  @Transform(({ value }) => value === 'true' || value === true)
  includeRemoved?: boolean;
}
