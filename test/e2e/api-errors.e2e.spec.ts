import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Response, Test } from 'supertest';
import { startApp, TestApp, waitForStatus } from './embedded-app';

type Http = TestApp['http'];
type Body = Record<string, unknown>;

const METHODS = new Set(['get', 'post', 'put', 'patch', 'delete']);

/** Fails the request (and so the test) on any 5xx: no input a client can send may crash the API. */
function neverServerError(response: Response): void {
  if (response.status >= 500) {
    const request = (response as unknown as { req: { method: string; path: string } }).req;
    throw new Error(`${request.method} ${request.path} answered ${response.status}: ${response.text}`);
  }
}

/** `service.http` whose every request carries the no-5xx assertion. */
function guarded(service: TestApp): Http {
  return () =>
    new Proxy(service.http(), {
      get(target, property, receiver) {
        const value: unknown = Reflect.get(target, property, receiver);
        if (typeof property !== 'string' || !METHODS.has(property) || typeof value !== 'function') return value;
        return (...args: unknown[]) => (value as (...a: unknown[]) => Test).apply(target, args).expect(neverServerError);
      },
    });
}

/** Polls `probe` until it returns a value; the deadline only turns a hang into a clear failure. */
async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const FINAL = ['completed', 'failed', 'cancelled'];

/**
 * Until the catalog projection has the backup, GET /backups/:id answers from its event stream,
 * without times or failure details (requestedAt is null): wait for the catalog's final answer.
 */
const settledInCatalog = (body: Body) => FINAL.includes(body.status as string) && body.requestedAt !== null;

function fieldMessages(body: Body): string[] {
  expect(Array.isArray(body.message)).toBe(true);
  return body.message as string[];
}

describe('embedded service: API errors and edge cases', () => {
  let service: TestApp;
  let http: Http;
  let scratch: string;
  let restoreRoot: string;
  /** A source with a few files, and a completed backup of it. */
  let sourceDir: string;
  let sourceId: string;
  let completedBackupId: string;

  const makeDir = async (name: string, files: Record<string, string> = {}) => {
    const dir = path.join(scratch, name);
    await fs.mkdir(dir, { recursive: true });
    for (const [file, content] of Object.entries(files)) await fs.writeFile(path.join(dir, file), content);
    return dir;
  };

  const registerSource = async (name: string, dir?: string): Promise<string> => {
    const folder = dir ?? (await makeDir(name, { 'a.txt': `${name}\n` }));
    const response = await http().post('/sources').send({ name, path: folder }).expect(201);
    return response.body.id as string;
  };

  const completedBackup = async (ofSource: string): Promise<Body> => {
    const requested = await http().post('/backups').send({ sourceId: ofSource }).expect(202);
    const settled = await waitForStatus(http, `/backups/${requested.body.id}`);
    expect(settled.status).toBe('completed');
    return settled;
  };

  const restoresOf = async (backupId: string): Promise<number> => {
    const response = await http().get('/restores').query({ backupId }).expect(200);
    return response.body.total as number;
  };

  beforeAll(async () => {
    scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-api-errors-'));
    service = await startApp();
    http = guarded(service);
    restoreRoot = service.config.restoreRoots[0];
    await fs.mkdir(restoreRoot, { recursive: true });
    sourceDir = await makeDir('main', { 'letter.txt': 'dear data subject\n', 'notes.md': '# notes\n' });
    sourceId = await registerSource('main', sourceDir);
    completedBackupId = (await completedBackup(sourceId)).id as string;
  });

  afterAll(async () => {
    await service?.close();
    if (scratch) await fs.rm(scratch, { recursive: true, force: true });
    if (service) await fs.rm(service.dataDir, { recursive: true, force: true });
  });

  describe('POST /sources validation', () => {
    it('rejects a missing name with the field named', async () => {
      const { body } = await http().post('/sources').send({ path: sourceDir }).expect(400);
      expect(body.code).toBe('VALIDATION_FAILED');
      expect(fieldMessages(body)).toEqual(expect.arrayContaining([expect.stringMatching(/^name /)]));
    });

    it('rejects an unknown extra field', async () => {
      const { body } = await http().post('/sources').send({ name: 'extra', path: sourceDir, colour: 'blue' }).expect(400);
      expect(body.code).toBe('VALIDATION_FAILED');
      expect(fieldMessages(body)).toContain('property colour should not exist');
    });

    it('rejects a relative path', async () => {
      const { body } = await http().post('/sources').send({ name: 'relative', path: 'data/letters' }).expect(400);
      expect(body.code).toBe('VALIDATION_FAILED');
      expect(fieldMessages(body)).toContain('path must be an absolute path');
    });

    it('rejects a folder that does not exist, and a file that is not a folder', async () => {
      const missing = await http()
        .post('/sources')
        .send({ name: 'missing', path: path.join(scratch, 'no-such-folder') })
        .expect(400);
      expect(missing.body).toMatchObject({ statusCode: 400, code: 'INVALID_INPUT' });
      expect(missing.body.message).toMatch(/path .*does not exist/);

      const file = path.join(sourceDir, 'letter.txt');
      const notFolder = await http().post('/sources').send({ name: 'file', path: file }).expect(400);
      expect(notFolder.body).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/not a directory/) });
    });

    it('registers none of the rejected sources', async () => {
      const { body } = await http().get('/sources').query({ includeRemoved: 'true' }).expect(200);
      const names = (body as Body[]).map((source) => source.name);
      for (const rejected of ['extra', 'relative', 'missing', 'file']) expect(names).not.toContain(rejected);
    });
  });

  describe('unknown resources', () => {
    it('answers 404 for a source, backup or restore that does not exist', async () => {
      for (const url of [`/sources/${randomUUID()}`, `/backups/${randomUUID()}`, `/restores/${randomUUID()}`]) {
        const { body } = await http().get(url).expect(404);
        expect(body).toMatchObject({ statusCode: 404, code: 'NOT_FOUND' });
      }
    });

    it('answers 404 (not 400 or 500) for ids that are not UUIDs', async () => {
      for (const url of ['/backups/not-a-uuid', '/sources/not-a-uuid', '/restores/1', '/backups/not-a-uuid/cancel']) {
        const call = url.endsWith('/cancel') ? http().post(url).send({}) : http().get(url);
        const { body } = await call.expect(404);
        expect(body.code).toBe('NOT_FOUND');
      }
    });

    it('answers 404 for a backup of an unknown source', async () => {
      const unknown = randomUUID();
      const { body } = await http().post('/backups').send({ sourceId: unknown }).expect(404);
      expect(body).toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining(unknown) });
    });

    it('answers 404 for a restore of an unknown backup', async () => {
      const { body } = await http()
        .post('/restores')
        .send({ backupId: randomUUID(), target: path.join(restoreRoot, 'unknown-backup') })
        .expect(404);
      expect(body.code).toBe('NOT_FOUND');
    });
  });

  describe('malformed requests', () => {
    it('rejects a backup type that does not exist', async () => {
      const { body } = await http().post('/backups').send({ sourceId, type: 'weekly' }).expect(400);
      expect(body.code).toBe('VALIDATION_FAILED');
      expect(fieldMessages(body)).toEqual([expect.stringMatching(/^type must be one of the following values: full, incremental/)]);
    });

    it('rejects a source id that is not a UUID', async () => {
      const { body } = await http().post('/backups').send({ sourceId: 'main' }).expect(400);
      expect(fieldMessages(body)).toEqual(expect.arrayContaining([expect.stringMatching(/^sourceId must be a UUID/)]));
    });

    it.each([
      ['/sources', '{"name": "broken", "path": '],
      ['/backups', '{sourceId: 1}'],
      ['/restores', 'not json at all'],
    ])('answers 400 with a code for a malformed JSON body on POST %s', async (url, text) => {
      const { body } = await http().post(url).set('Content-Type', 'application/json').send(text).expect(400);
      expect(body).toMatchObject({ statusCode: 400, code: expect.any(String) });
    });

    it('refuses null for optional fields instead of recording it, and the catalog keeps up', async () => {
      const id = await registerSource('null-fields');
      const nullType = await http().post('/backups').send({ sourceId: id, type: null }).expect(400);
      expect(fieldMessages(nullType.body)).toEqual([expect.stringMatching(/^type must be one of the following values/)]);
      const nullName = await http().patch(`/sources/${id}`).send({ name: null }).expect(400);
      expect(fieldMessages(nullName.body)).toEqual(expect.arrayContaining([expect.stringMatching(/^name /)]));
      const nullPath = await http().patch(`/sources/${id}`).send({ path: null }).expect(400);
      expect(fieldMessages(nullPath.body)).toEqual(expect.arrayContaining([expect.stringMatching(/^path /)]));
      for (const body of [{ include: null }, { purpose: null }]) {
        const target = path.join(restoreRoot, `null-${randomUUID()}`);
        await http()
          .post('/restores')
          .send({ backupId: completedBackupId, target, ...body })
          .expect(400);
      }
      await http().post(`/backups/${completedBackupId}/cancel`).send({ reason: null }).expect(400);

      // Nothing null reached the log: the projections still follow it.
      await http().patch(`/sources/${id}`).send({ name: 'null-fields-renamed' }).expect(200);
      await eventually('the rename in GET /sources', async () => {
        const { body } = await http().get('/sources').expect(200);
        return (body as Body[]).find((source) => source.id === id && source.name === 'null-fields-renamed');
      });
      const backup = await completedBackup(id);
      const listed = await eventually('the backup in GET /backups', async () => {
        const { body } = await http().get('/backups').query({ sourceId: id }).expect(200);
        return (body.items as Body[]).find((item) => item.id === backup.id && item.status === 'completed');
      });
      expect(listed.type).toBe('incremental');
    });

    it('accepts ids in upper case, as the routes do', async () => {
      const id = await registerSource('upper-case');
      await http().get(`/sources/${id.toUpperCase()}`).expect(200);
      const requested = await http().post('/backups').send({ sourceId: id.toUpperCase() }).expect(202);
      expect(requested.body.sourceId).toBe(id);
      await waitForStatus(http, `/backups/${requested.body.id}`);
      const { body } = await http().get('/backups').query({ sourceId: id.toUpperCase() }).expect(200);
      expect(body.items.map((item: Body) => item.id)).toEqual([requested.body.id]);
    });

    it('rejects bad paging and filter parameters', async () => {
      for (const query of [
        { limit: '0' },
        { limit: '501' },
        { limit: 'ten' },
        { offset: '-1' },
        { status: 'lost' },
        { sourceId: 'main' },
      ]) {
        const { body } = await http().get('/backups').query(query).expect(400);
        expect(body.code).toBe('VALIDATION_FAILED');
      }
    });

    it("filters restores by a restore's statuses only, naming the field otherwise", async () => {
      await http().get('/restores').query({ status: 'completed' }).expect(200);
      // A backup's statuses: no restore has them, so asking for one is an error, not an empty page.
      for (const status of ['cancelled', 'deleting', 'deleted', 'lost']) {
        const { body } = await http().get('/restores').query({ status }).expect(400);
        expect(body).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED' });
        expect(fieldMessages(body)).toEqual([
          expect.stringMatching(/^status must be one of the following values: requested, running, completed, failed/),
        ]);
      }
    });
  });

  describe('backups that cannot change any more', () => {
    it('refuses to cancel a completed backup, with the reason, and the backup stays completed', async () => {
      const { body } = await http().post(`/backups/${completedBackupId}/cancel`).send({ reason: 'changed my mind' }).expect(409);
      expect(body).toMatchObject({ statusCode: 409, code: 'INVALID_TRANSITION' });
      expect(body.message).toMatch(/completed and cannot be cancelled/);
      const after = await http().get(`/backups/${completedBackupId}`).expect(200);
      expect(after.body.status).toBe('completed');
    });

    it('fails a backup whose source folder was deleted after registration, and refuses to restore it', async () => {
      const dir = await makeDir('vanishing', { 'soon-gone.txt': 'bye\n' });
      const vanishingId = await registerSource('vanishing', dir);
      await fs.rm(dir, { recursive: true });

      const requested = await http().post('/backups').send({ sourceId: vanishingId, type: 'full' }).expect(202);
      const settled = await waitForStatus(http, `/backups/${requested.body.id}`, settledInCatalog);
      expect(settled).toMatchObject({ status: 'failed', snapshotId: null, failure: { code: 'SOURCE_NOT_FOUND' } });
      // The reason is for the operator, and names no file from inside the source.
      expect((settled.failure as Body).reason).toBe('the source folder does not exist');

      const target = path.join(restoreRoot, 'from-failed');
      const { body } = await http().post('/restores').send({ backupId: requested.body.id, target }).expect(409);
      expect(body).toMatchObject({ code: 'INVALID_TRANSITION', message: expect.stringMatching(/only a completed backup can be restored/) });
      expect(await restoresOf(requested.body.id)).toBe(0);
    });
  });

  describe('restore targets', () => {
    it('refuses a target outside RESTORE_ROOTS', async () => {
      const { body } = await http().post('/restores').send({ backupId: completedBackupId, target: '/etc/custodia-test' }).expect(400);
      expect(body).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('RESTORE_ROOTS') });
      // ../ in the target does not get it out of the root either.
      const climbing = path.join(restoreRoot, 'inside') + '/../../../escaped';
      await http().post('/restores').send({ backupId: completedBackupId, target: climbing }).expect(400);
      await expect(fs.lstat(path.join(restoreRoot, '..', '..', 'escaped'))).rejects.toThrow();
      await expect(fs.lstat('/etc/custodia-test')).rejects.toThrow();
    });

    it('refuses a target reached through a symlink inside the root that points outside', async () => {
      const outside = await makeDir('outside');
      const link = path.join(restoreRoot, 'escape');
      await fs.symlink(outside, link);
      for (const target of [link, path.join(link, 'nested')]) {
        const { body } = await http().post('/restores').send({ backupId: completedBackupId, target }).expect(400);
        expect(body.code).toBe('INVALID_INPUT');
      }
      expect(await fs.readdir(outside)).toEqual([]);
    });

    it('refuses a target below a dangling symlink that points outside', async () => {
      const nowhere = path.join(scratch, 'not-yet-there');
      const link = path.join(restoreRoot, 'dangling');
      await fs.symlink(nowhere, link);
      for (const target of [link, path.join(link, 'nested')]) {
        const { body } = await http().post('/restores').send({ backupId: completedBackupId, target }).expect(400);
        expect(body.code).toBe('INVALID_INPUT');
      }
      await expect(fs.lstat(nowhere)).rejects.toThrow();
    });

    it('refuses a target below a file', async () => {
      const file = path.join(restoreRoot, 'a-file');
      await fs.writeFile(file, 'not a folder\n');
      const { body } = await http()
        .post('/restores')
        .send({ backupId: completedBackupId, target: path.join(file, 'nested') })
        .expect(400);
      expect(body.code).toBe('INVALID_INPUT');
    });

    it('refuses include paths that climb out with ".."', async () => {
      for (const include of [['../etc/passwd'], ['letters/../../secret'], ['ok', '..']]) {
        const target = path.join(restoreRoot, `include-${randomUUID()}`);
        const { body } = await http().post('/restores').send({ backupId: completedBackupId, target, include }).expect(400);
        expect(body).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('..') });
      }
    });

    it('refuses a non-empty folder inside the root, and leaves its content alone', async () => {
      const occupied = path.join(restoreRoot, 'occupied');
      await fs.mkdir(occupied);
      await fs.writeFile(path.join(occupied, 'keep.txt'), 'mine\n');
      const { body } = await http().post('/restores').send({ backupId: completedBackupId, target: occupied }).expect(400);
      expect(body).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/not empty/) });
      expect(await fs.readdir(occupied)).toEqual(['keep.txt']);
      expect(await fs.readFile(path.join(occupied, 'keep.txt'), 'utf8')).toBe('mine\n');
    });

    it('records no restore for any refused target', async () => {
      expect(await restoresOf(completedBackupId)).toBe(0);
    });

    it('accepts a folder inside the root whose name merely starts with ".."', async () => {
      const target = path.join(restoreRoot, '..archive');
      const requested = await http().post('/restores').send({ backupId: completedBackupId, target }).expect(202);
      const restored = await waitForStatus(http, `/restores/${requested.body.id}`);
      expect(restored).toMatchObject({ status: 'completed', target });
      expect((await fs.readdir(target)).sort()).toEqual(['letter.txt', 'notes.md']);
    });
  });

  describe('source lifecycle', () => {
    it('refuses a backup of a removed source, and further changes to it', async () => {
      const removedId = await registerSource('to-remove');
      const removed = await http().delete(`/sources/${removedId}`).expect(200);
      expect(removed.body).toEqual({ id: removedId, status: 'removed' });

      const { body } = await http().post('/backups').send({ sourceId: removedId }).expect(409);
      expect(body).toMatchObject({ code: 'INVALID_TRANSITION', message: expect.stringContaining('not active') });
      await http().delete(`/sources/${removedId}`).expect(409);
      await http().patch(`/sources/${removedId}`).send({ name: 'revived' }).expect(409);

      const backups = await http().get('/backups').query({ sourceId: removedId }).expect(200);
      expect(backups.body.total).toBe(0);
    });

    it('renames a source, and the list shows the new name', async () => {
      const id = await registerSource('before-rename');
      const patched = await http().patch(`/sources/${id}`).send({ name: 'after-rename' }).expect(200);
      expect(patched.body).toMatchObject({ id, name: 'after-rename', status: 'active' });

      const listed = await eventually('the renamed source in GET /sources', async () => {
        const { body } = await http().get('/sources').expect(200);
        return (body as Body[]).find((source) => source.id === id && source.name === 'after-rename');
      });
      expect(listed.path).toBe(path.join(scratch, 'before-rename'));
      const { body } = await http().get('/sources').expect(200);
      expect((body as Body[]).filter((source) => source.name === 'before-rename')).toEqual([]);
    });

    it('refuses to move a source to a relative or missing path, and keeps the old one', async () => {
      const id = await registerSource('stays-put');
      const relative = await http().patch(`/sources/${id}`).send({ path: 'somewhere' }).expect(400);
      expect(fieldMessages(relative.body)).toContain('path must be an absolute path');
      const missing = await http()
        .patch(`/sources/${id}`)
        .send({ path: path.join(scratch, 'not-there') })
        .expect(400);
      expect(missing.body.code).toBe('INVALID_INPUT');
      const unchanged = await http().patch(`/sources/${id}`).send({}).expect(200);
      expect(unchanged.body).toMatchObject({ id, path: path.join(scratch, 'stays-put') });
    });
  });

  describe('Idempotency-Key', () => {
    it('replays the first answer for a repeated request and creates one backup only', async () => {
      const id = await registerSource('idempotent');
      const key = `backup-${randomUUID()}`;
      const first = await http().post('/backups').set('Idempotency-Key', key).send({ sourceId: id, type: 'full' });
      const second = await http().post('/backups').set('Idempotency-Key', key).send({ sourceId: id, type: 'full' });

      expect(first.status).toBe(202);
      expect(first.headers['idempotent-replayed']).toBeUndefined();
      expect(second.status).toBe(first.status);
      expect(second.headers['idempotent-replayed']).toBe('true');
      expect(second.body).toEqual(first.body);

      // The catalog applies the log in order: once it shows this backup settled, it has seen
      // every request that came before its completion, the repeated one included.
      await waitForStatus(http, `/backups/${first.body.id}`, settledInCatalog);
      const { body: catalog } = await http().get('/backups').query({ sourceId: id }).expect(200);
      expect(catalog.total).toBe(1);
      expect(catalog.items).toEqual([expect.objectContaining({ id: first.body.id, status: 'completed' })]);
    });

    it('refuses the same key for a different request', async () => {
      const id = await registerSource('idempotent-reused');
      const key = `backup-${randomUUID()}`;
      await http().post('/backups').set('Idempotency-Key', key).send({ sourceId: id, type: 'full' }).expect(202);
      const { body } = await http().post('/backups').set('Idempotency-Key', key).send({ sourceId: id, type: 'incremental' }).expect(409);
      expect(body).toMatchObject({ statusCode: 409, code: 'IDEMPOTENCY_KEY_REUSED' });
    });
  });

  describe('GET /backups paging and filters', () => {
    let pagedSource: string;
    const ids: string[] = [];

    beforeAll(async () => {
      pagedSource = await registerSource('paged');
      for (let i = 0; i < 3; i++) ids.push((await completedBackup(pagedSource)).id as string);
    });

    it('pages with limit and offset, and reports the total', async () => {
      const first = await http().get('/backups').query({ sourceId: pagedSource, limit: 2 }).expect(200);
      expect(first.body).toMatchObject({ total: 3, limit: 2, offset: 0 });
      expect(first.body.items).toHaveLength(2);

      const second = await http().get('/backups').query({ sourceId: pagedSource, limit: 2, offset: 2 }).expect(200);
      expect(second.body).toMatchObject({ total: 3, limit: 2, offset: 2 });
      expect(second.body.items).toHaveLength(1);

      const seen = [...first.body.items, ...second.body.items].map((item: Body) => item.id);
      expect(new Set(seen).size).toBe(3);
      expect([...seen].sort()).toEqual([...ids].sort());

      const beyond = await http().get('/backups').query({ sourceId: pagedSource, offset: 10 }).expect(200);
      expect(beyond.body).toMatchObject({ items: [], total: 3, offset: 10 });
    });

    it('filters by status', async () => {
      const completed = await http().get('/backups').query({ sourceId: pagedSource, status: 'completed' }).expect(200);
      expect(completed.body.total).toBe(3);
      expect(completed.body.items.every((item: Body) => item.status === 'completed')).toBe(true);

      const failedHere = await http().get('/backups').query({ sourceId: pagedSource, status: 'failed' }).expect(200);
      expect(failedHere.body).toMatchObject({ items: [], total: 0 });

      // The backup of the deleted folder, earlier in this file, failed.
      const failed = await http().get('/backups').query({ status: 'failed' }).expect(200);
      expect(failed.body.total).toBeGreaterThanOrEqual(1);
      expect(failed.body.items.every((item: Body) => item.status === 'failed')).toBe(true);
      expect(failed.body.items.map((item: Body) => item.sourceId)).not.toContain(pagedSource);
    });
  });
});
