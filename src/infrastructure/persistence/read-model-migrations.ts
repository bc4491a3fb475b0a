import {
  ColumnLister,
  READ_MODEL_MIGRATION_LOCK_TABLE,
  READ_MODEL_MIGRATION_TABLE,
  ReadModel,
  readModelMigrations,
} from '../../application/projections/read-model';
import { migrateToLatest } from './schema-migrations';

/**
 * Brings a read model's schema up to date with Kysely's Migrator; returns the names of the
 * projections reset to replay the log. `schema`: PostgreSQL's, where the Migrator tables go too.
 */
export async function migrateReadModel(db: ReadModel, columnsOf: ColumnLister, schema?: string): Promise<string[]> {
  const replayed: string[] = [];
  await migrateToLatest(db, {
    store: 'read model',
    migrations: readModelMigrations(columnsOf, replayed),
    tableName: READ_MODEL_MIGRATION_TABLE,
    lockTableName: READ_MODEL_MIGRATION_LOCK_TABLE,
    ...(schema !== undefined && { schema }),
  });
  return replayed;
}
