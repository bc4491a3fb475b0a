import { Inject } from '@nestjs/common';
import { IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import { DomainError } from '../../domain';
import { ReadModel } from '../projections/read-model';
import { READ_MODEL } from '../tokens';
import { SourceView, sourceView } from './views';

/** What the read models know of one source's processing: the declaration and the backups made. */
export interface SourceProcessingFacts {
  source: SourceView;
  backups: { completed: number; oldest: string | null; newest: string | null };
  /** Data subjects (pseudonyms) with data in this source's backups, and how many were erased. */
  subjects: { withData: number; erased: number };
}

export class GetSourceProcessingFactsQuery {
  constructor(readonly sourceId: string) {}
}

@QueryHandler(GetSourceProcessingFactsQuery)
export class GetSourceProcessingFactsHandler implements IQueryHandler<GetSourceProcessingFactsQuery, SourceProcessingFacts> {
  constructor(@Inject(READ_MODEL) private readonly db: ReadModel) {}

  async execute({ sourceId }: GetSourceProcessingFactsQuery): Promise<SourceProcessingFacts> {
    const row = await this.db.selectFrom('sources').selectAll().where('id', '=', sourceId).executeTakeFirst();
    if (!row) throw new DomainError('NOT_FOUND', `source ${sourceId} does not exist`);
    const backups = await this.db
      .selectFrom('backups')
      .select((eb) => [
        eb.fn.countAll<number>().as('completed'),
        eb.fn.min('finished_at').as('oldest'),
        eb.fn.max('finished_at').as('newest'),
      ])
      .where('source_id', '=', sourceId)
      .where('status', '=', 'completed')
      .executeTakeFirstOrThrow();
    const withData = await this.db
      .selectFrom('subject_backups')
      .innerJoin('backups', 'backups.id', 'subject_backups.backup_id')
      .select((eb) => eb.fn.count<number>('subject_backups.subject_pseudonym').distinct().as('count'))
      .where('backups.source_id', '=', sourceId)
      .executeTakeFirstOrThrow();
    const erased = await this.db
      .selectFrom('erasures')
      .innerJoin('subject_backups', 'subject_backups.subject_pseudonym', 'erasures.subject_pseudonym')
      .innerJoin('backups', 'backups.id', 'subject_backups.backup_id')
      .select((eb) => eb.fn.count<number>('erasures.subject_pseudonym').distinct().as('count'))
      .where('backups.source_id', '=', sourceId)
      .where('erasures.status', '=', 'completed')
      .executeTakeFirstOrThrow();
    return {
      source: sourceView(row),
      backups: { completed: Number(backups.completed), oldest: backups.oldest ?? null, newest: backups.newest ?? null },
      subjects: { withData: Number(withData.count), erased: Number(erased.count) },
    };
  }
}
