import { Inject } from '@nestjs/common';
import { IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import { RetentionPhase, RetentionPolicy, restoreTestDue, retentionCutoffs, retentionStatus } from '../../domain';
import { Clock } from '../ports/clock';
import { ReadModel } from '../projections/read-model';
import { CLOCK, READ_MODEL, RETENTION_POLICY } from '../tokens';
import { PageRequest } from './catalog.queries';

export interface RetentionView {
  backupId: string;
  sourceId: string;
  completedAt: string;
  phase: RetentionPhase;
  activeUntil: string;
  archivedUntil: string;
  /** The last restore test (verification of every blob) and whether the next one is due. */
  lastRestoreTest: { at: string | null; outcome: string };
  restoreTestDue: boolean;
}

export interface RetentionReport {
  policy: RetentionPolicy & { purge: string };
  at: string;
  counts: Record<RetentionPhase, number>;
  items: RetentionView[];
  total: number;
  limit: number;
  offset: number;
}

export class GetRetentionStatusQuery {
  constructor(
    readonly filter: { sourceId?: string; phase?: RetentionPhase },
    readonly page: PageRequest,
  ) {}
}

/**
 * The retention status of every completed backup: the catalog's completion and verification
 * times under the configured policy, evaluated now (so a policy change applies at once).
 */
@QueryHandler(GetRetentionStatusQuery)
export class GetRetentionStatusHandler implements IQueryHandler<GetRetentionStatusQuery, RetentionReport> {
  constructor(
    @Inject(READ_MODEL) private readonly db: ReadModel,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(RETENTION_POLICY) private readonly policy: RetentionPolicy,
  ) {}

  async execute({ filter, page }: GetRetentionStatusQuery): Promise<RetentionReport> {
    const now = this.clock.now();
    const { activeSince, archivedSince } = retentionCutoffs(now, this.policy);
    let completed = this.db.selectFrom('backups').where('status', '=', 'completed');
    if (filter.sourceId) completed = completed.where('source_id', '=', filter.sourceId);
    const counted = await completed
      .select((eb) => [
        eb.fn.countAll<number>().as('total'),
        eb.fn.sum<number>(eb.case().when('finished_at', '>', activeSince).then(1).else(0).end()).as('active'),
        eb.fn.sum<number>(eb.case().when('finished_at', '<=', archivedSince).then(1).else(0).end()).as('expired'),
      ])
      .executeTakeFirstOrThrow();
    const total = Number(counted.total);
    const active = Number(counted.active ?? 0);
    const expired = Number(counted.expired ?? 0);
    const counts: Record<RetentionPhase, number> = { active, archived: total - active - expired, expired };

    let select = completed.select(['id', 'source_id', 'finished_at', 'verification_status', 'verified_at']);
    if (filter.phase === 'active') select = select.where('finished_at', '>', activeSince);
    if (filter.phase === 'archived') select = select.where('finished_at', '<=', activeSince).where('finished_at', '>', archivedSince);
    if (filter.phase === 'expired') select = select.where('finished_at', '<=', archivedSince);
    const rows = await select.orderBy('finished_at', 'desc').orderBy('id').limit(page.limit).offset(page.offset).execute();
    const items = rows.map((row): RetentionView => {
      const completedAt = row.finished_at ?? '';
      return {
        backupId: row.id,
        sourceId: row.source_id,
        completedAt,
        ...retentionStatus(completedAt, now, this.policy),
        lastRestoreTest: { at: row.verified_at, outcome: row.verification_status },
        restoreTestDue: row.verification_status !== 'requested' && restoreTestDue(row.verified_at, now, this.policy),
      };
    });
    return {
      policy: { ...this.policy, purge: 'not automated yet: expired backups stay in the repository' },
      at: now.toISOString(),
      counts,
      items,
      total: filter.phase ? counts[filter.phase] : total,
      limit: page.limit,
      offset: page.offset,
    };
  }
}
