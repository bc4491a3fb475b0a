import { Inject } from '@nestjs/common';
import { IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import type { AuditOutcome, AuditTargetType } from '../../domain';
import { AuditVerification, verifyAuditTrail } from '../projections/audit-chain';
import { AuditEntriesTable, ReadModel } from '../projections/read-model';
import { READ_MODEL } from '../tokens';
import { PageRequest } from './catalog.queries';
import { Page } from './views';

export interface AuditFilter {
  subject?: string;
  actor?: string;
  /** ISO-8601 instants in UTC (as occurred_at is stored): from inclusive, to exclusive. */
  from?: string;
  to?: string;
}

/** The API shape of an audit entry. */
export interface AuditEntryView {
  sequence: number;
  eventId: string;
  eventPosition: number;
  occurredAt: string;
  actor: string;
  role: string;
  action: string;
  target: { type: AuditTargetType; id: string };
  purpose: string | null;
  outcome: AuditOutcome;
  details: Record<string, unknown> | null;
  correlationId: string;
  causationId: string | null;
  subjectPseudonym: string | null;
  previousHash: string;
  hash: string;
}

export function auditEntryView(row: AuditEntriesTable): AuditEntryView {
  return {
    sequence: Number(row.sequence),
    eventId: row.event_id,
    eventPosition: Number(row.event_position),
    occurredAt: row.occurred_at,
    actor: row.actor,
    role: row.role,
    action: row.action,
    target: { type: row.target_type as AuditTargetType, id: row.target_id },
    purpose: row.purpose,
    outcome: row.outcome as AuditOutcome,
    details: row.details ? (JSON.parse(row.details) as Record<string, unknown>) : null,
    correlationId: row.correlation_id,
    causationId: row.causation_id,
    subjectPseudonym: row.subject_pseudonym,
    previousHash: row.previous_hash,
    hash: row.hash,
  };
}

/** Entries in chain order, paginated like the catalog. */
export class ListAuditEntriesQuery {
  constructor(
    readonly filter: AuditFilter,
    readonly page: PageRequest,
  ) {}
}

/** The stored rows after `afterSequence`, for an export that pages through the whole trail. */
export class ReadAuditEntriesQuery {
  constructor(
    readonly filter: AuditFilter,
    readonly afterSequence: number,
    readonly limit: number,
  ) {}
}

export class VerifyAuditTrailQuery {}

function filtered(db: ReadModel, filter: AuditFilter) {
  let select = db.selectFrom('audit_entries');
  if (filter.subject) select = select.where('subject_pseudonym', '=', filter.subject);
  if (filter.actor) select = select.where('actor', '=', filter.actor);
  if (filter.from) select = select.where('occurred_at', '>=', filter.from);
  if (filter.to) select = select.where('occurred_at', '<', filter.to);
  return select;
}

@QueryHandler(ListAuditEntriesQuery)
export class ListAuditEntriesHandler implements IQueryHandler<ListAuditEntriesQuery, Page<AuditEntryView>> {
  constructor(@Inject(READ_MODEL) private readonly db: ReadModel) {}

  async execute({ filter, page }: ListAuditEntriesQuery): Promise<Page<AuditEntryView>> {
    const select = filtered(this.db, filter);
    const total = await select.select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
    const rows = await select.selectAll().orderBy('sequence').limit(page.limit).offset(page.offset).execute();
    return { items: rows.map(auditEntryView), total: Number(total.count), ...page };
  }
}

@QueryHandler(ReadAuditEntriesQuery)
export class ReadAuditEntriesHandler implements IQueryHandler<ReadAuditEntriesQuery, AuditEntriesTable[]> {
  constructor(@Inject(READ_MODEL) private readonly db: ReadModel) {}

  execute({ filter, afterSequence, limit }: ReadAuditEntriesQuery): Promise<AuditEntriesTable[]> {
    return filtered(this.db, filter).selectAll().where('sequence', '>', afterSequence).orderBy('sequence').limit(limit).execute();
  }
}

@QueryHandler(VerifyAuditTrailQuery)
export class VerifyAuditTrailHandler implements IQueryHandler<VerifyAuditTrailQuery, AuditVerification> {
  constructor(@Inject(READ_MODEL) private readonly db: ReadModel) {}

  execute(): Promise<AuditVerification> {
    return verifyAuditTrail(this.db);
  }
}

export const AUDIT_QUERY_HANDLERS = [ListAuditEntriesHandler, ReadAuditEntriesHandler, VerifyAuditTrailHandler];
