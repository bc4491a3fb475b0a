import { Transform, Type } from 'class-transformer';
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
} from 'class-validator';

const ABSOLUTE_PATH = /^\/[^\0]*$/;

export class CreateSourceDto {
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  name!: string;

  @IsString()
  @MaxLength(4096)
  @Matches(ABSOLUTE_PATH, { message: 'path must be an absolute path' })
  path!: string;
}

export class UpdateSourceDto {
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  name?: string;

  @IsOptional()
  @IsString()
  @MaxLength(4096)
  @Matches(ABSOLUTE_PATH, { message: 'path must be an absolute path' })
  path?: string;
}

export class RequestBackupDto {
  @IsUUID()
  sourceId!: string;

  @IsOptional()
  @IsIn(['full', 'incremental'])
  type: 'full' | 'incremental' = 'incremental';
}

export class CancelBackupDto {
  @IsOptional()
  @IsString()
  @MaxLength(500)
  reason?: string;
}

export class RequestRestoreDto {
  @IsUUID()
  backupId!: string;

  @IsString()
  @MaxLength(4096)
  @Matches(ABSOLUTE_PATH, { message: 'target must be an absolute path' })
  target!: string;

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(1000)
  @IsString({ each: true })
  @MaxLength(4096, { each: true })
  include?: string[];

  @IsOptional()
  @IsString()
  @MaxLength(500)
  purpose?: string;
}

class PageQueryDto {
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
  offset: number = 0;
}

const STATUSES = ['requested', 'running', 'completed', 'failed', 'cancelled'];

export class ListBackupsQueryDto extends PageQueryDto {
  @IsOptional()
  @IsUUID()
  sourceId?: string;

  @IsOptional()
  @IsIn(STATUSES)
  status?: string;

  @IsOptional()
  @IsISO8601()
  from?: string;

  @IsOptional()
  @IsISO8601()
  to?: string;
}

export class ListRestoresQueryDto extends PageQueryDto {
  @IsOptional()
  @IsUUID()
  backupId?: string;

  @IsOptional()
  @IsIn(STATUSES)
  status?: string;
}

export class ListSourcesQueryDto {
  @IsOptional()
  @Transform(({ value }) => value === 'true' || value === true)
  includeRemoved?: boolean;
}
