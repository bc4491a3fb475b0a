import { Transaction } from 'kysely';
import { DomainEvent } from '../../domain';
import { toDomainEvent } from '../event-envelope';
import { RecordedEvent } from '../ports/event-store';
import { Projection } from './projection';
import { ReadModelDatabase } from './read-model';

/** Registered sources, for GET /sources. */
export class SourcesProjection implements Projection {
  readonly name = 'sources';
  readonly tables: (keyof ReadModelDatabase)[] = ['sources'];

  async apply(trx: Transaction<ReadModelDatabase>, recorded: RecordedEvent): Promise<void> {
    const event: DomainEvent = toDomainEvent(recorded);
    switch (event.type) {
      case 'SourceRegistered':
        await trx
          .insertInto('sources')
          .values({
            id: event.data.sourceId,
            name: event.data.name,
            path: event.data.path,
            subject_rules: JSON.stringify(event.data.subjectRules ?? []),
            data_categories: JSON.stringify(event.data.dataCategories ?? []),
            purposes: JSON.stringify(event.data.purposes ?? []),
            status: 'active',
            registered_at: event.data.at,
            updated_at: event.data.at,
          })
          .onConflict((oc) => oc.column('id').doNothing())
          .execute();
        return;
      case 'SourceUpdated':
        await trx
          .updateTable('sources')
          .where('id', '=', event.data.sourceId)
          .set({
            ...(event.data.name !== undefined && { name: event.data.name }),
            ...(event.data.path !== undefined && { path: event.data.path }),
            ...(event.data.subjectRules !== undefined && { subject_rules: JSON.stringify(event.data.subjectRules) }),
            ...(event.data.dataCategories !== undefined && { data_categories: JSON.stringify(event.data.dataCategories) }),
            ...(event.data.purposes !== undefined && { purposes: JSON.stringify(event.data.purposes) }),
            updated_at: event.data.at,
          })
          .execute();
        return;
      case 'SourceRemoved':
        await trx
          .updateTable('sources')
          .where('id', '=', event.data.sourceId)
          .set({ status: 'removed', updated_at: event.data.at })
          .execute();
        return;
      default:
        return;
    }
  }
}
