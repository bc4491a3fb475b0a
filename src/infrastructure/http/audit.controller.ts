import { Controller, Get, Logger, Query, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import type { Response } from 'express';
import { AuditVerification } from '../../application/projections/audit-chain';
import { AuditEntriesTable } from '../../application/projections/read-model';
import {
  AuditEntryView,
  AuditFilter,
  ListAuditEntriesQuery,
  ReadAuditEntriesQuery,
  VerifyAuditTrailQuery,
} from '../../application/queries/audit.queries';
import { Page } from '../../application/queries/views';
import { describeForLog } from '../../application/describe-for-log';
import { auditFilter, ExportAuditQueryDto, ListAuditQueryDto } from './audit.dto';
import { Requires } from './access.guard';

/** Columns of an export, in table order: the fields the hash covers, then the hash. */
const COLUMNS: (keyof AuditEntriesTable)[] = [
  'sequence',
  'event_id',
  'event_position',
  'occurred_at',
  'actor',
  'role',
  'action',
  'target_type',
  'target_id',
  'purpose',
  'outcome',
  'details',
  'correlation_id',
  'causation_id',
  'subject_pseudonym',
  'previous_hash',
  'hash',
];

const EXPORT_PAGE = 500;

/** The GDPR audit trail for the controller's DPO: who did what to personal data, and proof it is intact. */
@Controller('audit')
export class AuditController {
  private readonly logger = new Logger('Audit');

  constructor(private readonly queries: QueryBus) {}

  @Requires('audit:read')
  @Get()
  list(@Query() query: ListAuditQueryDto): Promise<Page<AuditEntryView>> {
    return this.queries.execute(new ListAuditEntriesQuery(auditFilter(query), { limit: query.limit, offset: query.offset }));
  }

  @Requires('audit:read')
  @Get('verify')
  verify(): Promise<AuditVerification> {
    return this.queries.execute(new VerifyAuditTrailQuery());
  }

  /**
   * The stored rows themselves (not the API view), so that each entry's hash can be recomputed
   * from an export; JSONL keeps the exact values, CSV is for spreadsheets. Streamed a page at a
   * time, so a long trail is never held in memory.
   */
  @Requires('audit:read')
  @Get('export')
  async export(@Query() query: ExportAuditQueryDto, @Res() response: Response): Promise<void> {
    const filter = auditFilter(query);
    // The first page is read before anything is sent, so a failure here is still a clean error answer.
    let page = await this.page(filter, 0);
    const csv = query.format === 'csv';
    response.status(200);
    response.setHeader('Content-Type', csv ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8');
    response.setHeader('Content-Disposition', `attachment; filename="audit-trail.${csv ? 'csv' : 'jsonl'}"`);
    try {
      if (csv) await write(response, csvLine(COLUMNS));
      while (page.length > 0) {
        for (const row of page)
          await write(response, csv ? csvLine(COLUMNS.map((column) => row[column])) : `${JSON.stringify(stored(row))}\n`);
        if (page.length < EXPORT_PAGE) break;
        page = await this.page(filter, Number(page[page.length - 1].sequence));
      }
      response.end();
    } catch (error) {
      // Headers are gone: the only honest signal left is an aborted (incomplete) download.
      this.logger.error(`audit export failed (${describeForLog(error)})`);
      response.destroy();
    }
  }

  private page(filter: AuditFilter, afterSequence: number): Promise<AuditEntriesTable[]> {
    return this.queries.execute(new ReadAuditEntriesQuery(filter, afterSequence, EXPORT_PAGE));
  }
}

function stored(row: AuditEntriesTable): AuditEntriesTable {
  return { ...row, sequence: Number(row.sequence), event_position: Number(row.event_position) };
}

/** Writes with back-pressure; a client that hung up ends the export instead of leaving it waiting for 'drain'. */
async function write(response: Response, chunk: string): Promise<void> {
  if (response.destroyed) throw new Error('the client closed the connection');
  if (response.write(chunk)) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      response.off('drain', done);
      response.off('close', done);
      resolve();
    };
    response.on('drain', done);
    response.on('close', done);
  });
}

/**
 * One RFC 4180 record. A cell a spreadsheet would run as a formula (=, +, -, @, tab, CR first)
 * gets a leading apostrophe (OWASP's advice); the purpose is free text, so this can happen.
 */
export function csvLine(values: unknown[]): string {
  return `${values.map(csvCell).join(',')}\r\n`;
}

function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
