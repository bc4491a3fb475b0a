import { Logger } from '@nestjs/common';
import Database from 'better-sqlite3';
import { isStorageFull } from '../../src/engine';
import { apiErrorResponse } from '../../src/infrastructure/http/error.filter';

/** A database or disk that is full is answered 507 STORAGE_FULL, never a 500. */
describe('storage full', () => {
  const logger = new Logger('storage-full-spec');
  beforeAll(() => jest.spyOn(logger, 'error').mockImplementation(() => undefined));

  function sqliteFullError(): unknown {
    // A real SQLITE_FULL: the database may not grow past the pages it has.
    const db = new Database(':memory:');
    try {
      db.exec('CREATE TABLE t (v BLOB)');
      const pages = db.pragma('page_count', { simple: true }) as number;
      db.pragma(`max_page_count = ${pages}`);
      db.prepare('INSERT INTO t VALUES (?)').run(Buffer.alloc(1 << 20));
      return null;
    } catch (error) {
      return error;
    } finally {
      db.close();
    }
  }

  it('answers SQLite, disk and PostgreSQL fullness with 507 STORAGE_FULL and a sentence, not a 500', () => {
    const errors = [
      sqliteFullError(),
      Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }),
      new Error('append failed', { cause: Object.assign(new Error('could not extend file'), { code: '53100' }) }),
    ];
    expect((errors[0] as { code?: string }).code).toBe('SQLITE_FULL');
    for (const error of errors) {
      expect(isStorageFull(error)).toBe(true);
      expect(apiErrorResponse(error, logger)).toEqual({
        status: 507,
        body: {
          statusCode: 507,
          code: 'STORAGE_FULL',
          message: "the service's storage is full; nothing was recorded: free space and retry",
        },
      });
    }
  });

  it('leaves other failures as they were', () => {
    expect(isStorageFull(Object.assign(new Error('EIO'), { code: 'EIO' }))).toBe(false);
    expect(apiErrorResponse(new TypeError('bug'), logger).status).toBe(500);
  });
});
