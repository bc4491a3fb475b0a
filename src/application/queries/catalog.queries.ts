import { Inject } from '@nestjs/common';
import { IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import { BackupStatus, backupDecider, DomainError, RestoreStatus, restoreDecider, Streams } from '../../domain';
import { AggregateStore } from '../aggregate-store';
import { JobTracker } from '../process-managers/job-tracker';
import { EventStore } from '../ports/event-store';
import { ReadModel } from '../projections/read-model';
import { EVENT_STORE, READ_MODEL } from '../tokens';
import { BackupView, backupView, JobAttemptView, jobAttemptView, Page, RestoreView, restoreView, SourceView, sourceView } from './views';

export interface PageRequest {
  limit: number;
  offset: number;
}

export class ListSourcesQuery {
  constructor(readonly includeRemoved: boolean) {}
}

export class GetSourceQuery {
  constructor(readonly id: string) {}
}

export class ListBackupsQuery {
  constructor(
    readonly filter: { sourceId?: string; status?: BackupStatus; from?: string; to?: string },
    readonly page: PageRequest,
  ) {}
}

export class GetBackupQuery {
  constructor(readonly id: string) {}
}

export class ListRestoresQuery {
  constructor(
    readonly filter: { backupId?: string; status?: RestoreStatus },
    readonly page: PageRequest,
  ) {}
}

export class GetRestoreQuery {
  constructor(readonly id: string) {}
}

@QueryHandler(ListSourcesQuery)
export class ListSourcesHandler implements IQueryHandler<ListSourcesQuery, SourceView[]> {
  constructor(@Inject(READ_MODEL) private readonly db: ReadModel) {}

  async execute(query: ListSourcesQuery): Promise<SourceView[]> {
    let select = this.db.selectFrom('sources').selectAll();
    if (!query.includeRemoved) select = select.where('status', '=', 'active');
    return (await select.orderBy('registered_at').orderBy('id').execute()).map(sourceView);
  }
}

@QueryHandler(GetSourceQuery)
export class GetSourceHandler implements IQueryHandler<GetSourceQuery, SourceView> {
  constructor(@Inject(READ_MODEL) private readonly db: ReadModel) {}

  async execute({ id }: GetSourceQuery): Promise<SourceView> {
    const row = await this.db.selectFrom('sources').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new DomainError('NOT_FOUND', `source ${id} does not exist`);
    return sourceView(row);
  }
}

@QueryHandler(ListBackupsQuery)
export class ListBackupsHandler implements IQueryHandler<ListBackupsQuery, Page<BackupView>> {
  constructor(@Inject(READ_MODEL) private readonly db: ReadModel) {}

  async execute({ filter, page }: ListBackupsQuery): Promise<Page<BackupView>> {
    let select = this.db.selectFrom('backups');
    if (filter.sourceId) select = select.where('source_id', '=', filter.sourceId);
    if (filter.status) select = select.where('status', '=', filter.status);
    if (filter.from) select = select.where('requested_at', '>=', filter.from);
    if (filter.to) select = select.where('requested_at', '<', filter.to);
    const total = await select.select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
    const rows = await select.selectAll().orderBy('requested_at', 'desc').orderBy('id').limit(page.limit).offset(page.offset).execute();
    return { items: rows.map(backupView), total: Number(total.count), ...page };
  }
}

/**
 * Reads the catalog; for a backup accepted a moment ago that the projection has not reached
 * yet, answers from the event stream itself, so a client never sees 404 for its own request.
 */
@QueryHandler(GetBackupQuery)
export class GetBackupHandler implements IQueryHandler<GetBackupQuery, BackupView> {
  private readonly aggregates: AggregateStore;

  constructor(
    @Inject(READ_MODEL) private readonly db: ReadModel,
    @Inject(EVENT_STORE) events: EventStore,
    private readonly jobs: JobTracker,
  ) {
    this.aggregates = new AggregateStore(events);
  }

  async execute({ id }: GetBackupQuery): Promise<BackupView> {
    const row = await this.db.selectFrom('backups').selectAll().where('id', '=', id).executeTakeFirst();
    if (row) {
      return {
        ...backupView(row),
        ...(row.status === 'running' && { progress: await this.jobs.progressOf(id) }),
        attempts: await attemptsOf(this.db, id),
      };
    }
    const { state } = await this.aggregates.load(backupDecider, Streams.backup(id));
    if (state.status === 'none') throw new DomainError('NOT_FOUND', `backup ${id} does not exist`);
    return {
      id,
      sourceId: state.sourceId,
      type: state.backupType,
      status: state.status,
      requestedAt: null,
      startedAt: null,
      finishedAt: null,
      attempt: state.attempt,
      snapshotId: state.snapshotId,
      merkleRoot: state.merkleRoot,
      statistics: null,
      failure: null,
      verification: { status: state.verification, at: null },
      deletedAt: null,
    };
  }
}

@QueryHandler(ListRestoresQuery)
export class ListRestoresHandler implements IQueryHandler<ListRestoresQuery, Page<RestoreView>> {
  constructor(@Inject(READ_MODEL) private readonly db: ReadModel) {}

  async execute({ filter, page }: ListRestoresQuery): Promise<Page<RestoreView>> {
    let select = this.db.selectFrom('restores');
    if (filter.backupId) select = select.where('backup_id', '=', filter.backupId);
    if (filter.status) select = select.where('status', '=', filter.status);
    const total = await select.select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
    const rows = await select.selectAll().orderBy('requested_at', 'desc').orderBy('id').limit(page.limit).offset(page.offset).execute();
    return { items: rows.map(restoreView), total: Number(total.count), ...page };
  }
}

@QueryHandler(GetRestoreQuery)
export class GetRestoreHandler implements IQueryHandler<
  GetRestoreQuery,
  RestoreView | { id: string; status: RestoreStatus; backupId: string }
> {
  private readonly aggregates: AggregateStore;

  constructor(
    @Inject(READ_MODEL) private readonly db: ReadModel,
    @Inject(EVENT_STORE) events: EventStore,
    private readonly jobs: JobTracker,
  ) {
    this.aggregates = new AggregateStore(events);
  }

  async execute({ id }: GetRestoreQuery): Promise<RestoreView | { id: string; status: RestoreStatus; backupId: string }> {
    const row = await this.db.selectFrom('restores').selectAll().where('id', '=', id).executeTakeFirst();
    if (row) {
      return {
        ...restoreView(row),
        ...(row.status === 'running' && { progress: await this.jobs.progressOf(id) }),
        attempts: await attemptsOf(this.db, id),
      };
    }
    const { state } = await this.aggregates.load(restoreDecider, Streams.restore(id));
    if (state.status === 'none') throw new DomainError('NOT_FOUND', `restore ${id} does not exist`);
    return { id, status: state.status, backupId: state.backupId };
  }
}

/** The attempts of the jobs working for an aggregate (a backup's job, a restore's), in order. */
async function attemptsOf(db: ReadModel, aggregateId: string): Promise<JobAttemptView[]> {
  const rows = await db
    .selectFrom('job_attempts')
    .selectAll()
    .where('aggregate_id', '=', aggregateId)
    .orderBy('job_id')
    .orderBy('attempt')
    .execute();
  return rows.map(jobAttemptView);
}

export const QUERY_HANDLERS = [
  ListSourcesHandler,
  GetSourceHandler,
  ListBackupsHandler,
  GetBackupHandler,
  ListRestoresHandler,
  GetRestoreHandler,
];
