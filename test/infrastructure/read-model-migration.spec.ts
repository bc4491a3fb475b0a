import Database from 'better-sqlite3';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openSqliteReadModel } from '../../src/infrastructure/persistence/sqlite-read-model';

/**
 * A read model written by an older build lacks the columns added since. Opening it adds them,
 * and the projections that fill those columns start over from the event log, so their rows get
 * the values the old build never stored; other projections and their checkpoints are left alone.
 */
describe('read model: upgrading one made by an older build', () => {
  let dir: string;
  let file: string;

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-readmodel-'));
    file = path.join(dir, 'readmodel.db');
  });

  afterEach(() => fs.rm(dir, { recursive: true, force: true }));

  const columns = (database: Database.Database, table: string) =>
    (database.prepare(`SELECT name FROM pragma_table_info('${table}')`).all() as { name: string }[]).map((row) => row.name);

  it('adds the missing columns and makes only the projections that fill them replay', async () => {
    await (await openSqliteReadModel(file)).destroy();
    // What an older build left behind: tables without the later columns, rows, checkpoints.
    const old = new Database(file);
    // Builds that old ran no Migrator: no migration tables.
    old.exec('DROP TABLE read_model_migration; DROP TABLE read_model_migration_lock');
    for (const column of ['data_categories', 'purposes']) old.exec(`ALTER TABLE sources DROP COLUMN ${column}`);
    old.exec('ALTER TABLE restores DROP COLUMN subject_pseudonym');
    old.exec('ALTER TABLE jobs DROP COLUMN progress');
    old.exec(`INSERT INTO sources (id, name, path, subject_rules, status, registered_at, updated_at)
              VALUES ('s1', 'letters', '/data', '[]', 'active', '2030-01-01', '2030-01-01')`);
    old.exec(`INSERT INTO projection_checkpoints (name, position) VALUES ('sources', 7), ('restore-history', 7), ('audit-trail', 7)`);
    old.close();

    const upgraded = await openSqliteReadModel(file);
    await upgraded.destroy();

    const database = new Database(file, { readonly: true });
    try {
      expect(columns(database, 'sources')).toEqual(expect.arrayContaining(['data_categories', 'purposes']));
      expect(columns(database, 'restores')).toContain('subject_pseudonym');
      expect(columns(database, 'jobs')).toContain('progress');
      expect(database.prepare('SELECT COUNT(*) AS n FROM sources').get()).toEqual({ n: 0 });
      expect(database.prepare('SELECT name, position FROM projection_checkpoints ORDER BY name').all()).toEqual([
        { name: 'audit-trail', position: 7 },
      ]);
    } finally {
      database.close();
    }

    // Opening an up-to-date read model changes nothing.
    const again = new Database(file);
    again.exec(`INSERT INTO projection_checkpoints (name, position) VALUES ('sources', 9)`);
    again.close();
    await (await openSqliteReadModel(file)).destroy();
    const after = new Database(file, { readonly: true });
    expect(after.prepare("SELECT position FROM projection_checkpoints WHERE name = 'sources'").get()).toEqual({ position: 9 });
    after.close();
  });
});
