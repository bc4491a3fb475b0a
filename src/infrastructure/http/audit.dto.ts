import { applyDecorators, BadRequestException } from '@nestjs/common';
import { IsIn, IsISO8601, IsOptional, Matches, MaxLength } from 'class-validator';
import { AuditFilter } from '../../application/queries/audit.queries';
import { PSEUDONYM_PATTERN } from '../../engine/repository/format';
import { PageQueryDto } from './dto';

/** The filters GET /audit and GET /audit/export share; both classes apply them. */
const Subject = () => applyDecorators(IsOptional(), Matches(PSEUDONYM_PATTERN, { message: 'subject must be a pseudonym' }));
// The same characters X-Actor accepts (actor.ts), so every recorded actor can be asked for.
const Actor = () => applyDecorators(IsOptional(), MaxLength(100), Matches(/^[\w.:@-]+$/, { message: 'actor must be an actor name' }));
const Instant = () => applyDecorators(IsOptional(), IsISO8601({ strict: true }));

export class ListAuditQueryDto extends PageQueryDto {
  @Subject() subject?: string;
  @Actor() actor?: string;
  @Instant() from?: string;
  @Instant() to?: string;
}

export class ExportAuditQueryDto {
  @Subject() subject?: string;
  @Actor() actor?: string;
  @Instant() from?: string;
  @Instant() to?: string;

  @IsOptional()
  @IsIn(['jsonl', 'csv'])
  format: 'jsonl' | 'csv' = 'jsonl';
}

/**
 * occurred_at is stored as UTC ISO text, so from/to are compared as such: an offset such as
 * +02:00 is converted first, or the text comparison would be wrong by the offset.
 */
export function auditFilter(query: ListAuditQueryDto | ExportAuditQueryDto): AuditFilter {
  return { subject: query.subject, actor: query.actor, from: instant('from', query.from), to: instant('to', query.to) };
}

function instant(field: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const time = Date.parse(value);
  // Week dates and ordinal dates are ISO-8601 too, but not something Date can read.
  if (Number.isNaN(time)) throw new BadRequestException({ message: [`${field} must be an ISO-8601 date or date-time`] });
  return new Date(time).toISOString();
}
