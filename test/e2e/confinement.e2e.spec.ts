import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ServiceRepositoryProvider } from '../../src/infrastructure/repository/service-repository.provider';
import { startApp, TestApp, waitForStatus } from './embedded-app';

/** Every file under `root` (relative paths), to show that nothing was written. */
async function filesUnder(root: string): Promise<string[]> {
  const entries = await fs.readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)))
    .sort();
}

/**
 * Where sources may be and where restores may write: the API refuses a source that is the
 * machine, a kernel interface, the service's own data or a restore root, or lies outside
 * SOURCE_ROOTS; the worker refuses it again when a backup starts; restore targets keep clear
 * of one another and of sources.
 */
describe('source confinement and restore targets', () => {
  let base: string;

  beforeAll(async () => {
    base = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-confinement-'));
  });
  afterAll(() => fs.rm(base, { recursive: true, force: true }));

  describe('on embedded defaults (no SOURCE_ROOTS)', () => {
    let service: TestApp;
    let restoreRoot: string;
    const gql = async (query: string, variables: Record<string, unknown>) =>
      (await service.http().post('/graphql').send({ query, variables }).expect(200)).body as {
        data: unknown;
        errors?: { message: string; extensions: { code: string; statusCode: number } }[];
      };

    beforeAll(async () => {
      restoreRoot = path.join(base, 'restores');
      await fs.mkdir(path.join(base, 'data'));
      service = await startApp({ RESTORE_ROOTS: restoreRoot, REPOSITORY: path.join(base, 'repo') }, path.join(base, 'data'));
      await service.app.get(ServiceRepositoryProvider).repository(); // created at start, as `npm start` does
    });
    afterAll(() => service.close());

    it.each([
      ['the root folder', () => '/', 'root folder'],
      ['a kernel interface', () => '/proc', 'system folder'],
      ['a folder inside one', () => '/sys/kernel', 'system folder'],
      ['DATA_DIR', () => path.join(base, 'data'), 'service data'],
      ['the repository (REPOSITORY)', () => path.join(base, 'repo'), 'service data'],
      ['a folder inside the repository', () => path.join(base, 'repo', 'keys'), 'service data'],
      ['a folder holding DATA_DIR', () => base, 'service data'],
    ])('refuses %s with 400 SOURCE_FORBIDDEN naming the rule', async (_what, folder, rule) => {
      const response = await service.http().post('/sources').send({ name: 'x', path: folder() }).expect(400);
      expect(response.body).toEqual({ statusCode: 400, code: 'SOURCE_FORBIDDEN', message: expect.stringContaining(`${rule}:`) });
    });

    it('judges the real path: a symlink to DATA_DIR is DATA_DIR, and a restore root may not be a source', async () => {
      const link = path.join(base, 'innocent-looking');
      await fs.symlink(path.join(base, 'data'), link);
      const viaLink = await service.http().post('/sources').send({ name: 'x', path: link }).expect(400);
      expect(viaLink.body).toMatchObject({ code: 'SOURCE_FORBIDDEN', message: expect.stringContaining('service data:') });
      await fs.mkdir(path.join(restoreRoot, 'old'), { recursive: true });
      for (const folder of [restoreRoot, path.join(restoreRoot, 'old')]) {
        const response = await service.http().post('/sources').send({ name: 'x', path: folder }).expect(400);
        expect(response.body).toMatchObject({ code: 'SOURCE_FORBIDDEN', message: expect.stringContaining('restore root:') });
      }
      const sources = await service.http().get('/sources').expect(200);
      expect(sources.body).toEqual([]);
    });

    it('still allows an ordinary folder anywhere else (the quick start), and refuses a change of path the same way', async () => {
      const folder = path.join(base, 'demo');
      await fs.mkdir(folder);
      const registered = await service.http().post('/sources').send({ name: 'demo', path: folder }).expect(201);
      const patched = await service.http().patch(`/sources/${registered.body.id}`).send({ path: '/etc/..' }).expect(400);
      expect(patched.body).toMatchObject({ code: 'SOURCE_FORBIDDEN', message: expect.stringContaining('root folder:') });
      expect((await service.http().get(`/sources/${registered.body.id}`).expect(200)).body.path).toBe(folder);
    });

    it('gives GraphQL registerSource and updateSource the same code', async () => {
      const registered = await gql('mutation($input: RegisterSourceInput!) { registerSource(input: $input) { id } }', {
        input: { name: 'gql', path: path.join(base, 'data') },
      });
      expect(registered.errors?.[0]?.extensions).toMatchObject({ code: 'SOURCE_FORBIDDEN', statusCode: 400 });
      expect(registered.errors?.[0]?.message).toContain('service data:');
      const folder = path.join(base, 'gql-source');
      await fs.mkdir(folder);
      const ok = (await gql('mutation($input: RegisterSourceInput!) { registerSource(input: $input) { id } }', {
        input: { name: 'gql', path: folder },
      })) as { data: { registerSource: { id: string } } };
      const updated = await gql('mutation($id: ID!, $input: UpdateSourceInput!) { updateSource(id: $id, input: $input) { id } }', {
        id: ok.data.registerSource.id,
        input: { path: '/proc' },
      });
      expect(updated.errors?.[0]?.extensions).toMatchObject({ code: 'SOURCE_FORBIDDEN', statusCode: 400 });
      expect(updated.errors?.[0]?.message).toContain('system folder:');
    });

    it('fails a backup whose folder became a symlink to the service data since it was registered, writing nothing', async () => {
      const folder = path.join(base, 'swapped');
      await fs.mkdir(folder);
      await fs.writeFile(path.join(folder, 'a.txt'), 'a\n');
      const registered = await service.http().post('/sources').send({ name: 'swapped', path: folder }).expect(201);
      const repository = path.join(base, 'repo');
      const before = await filesUnder(repository);
      await fs.rm(folder, { recursive: true });
      await fs.symlink(path.join(base, 'data'), folder);
      const requested = await service.http().post('/backups').send({ sourceId: registered.body.id, type: 'full' }).expect(202);
      const settled = await waitForStatus(service.http, `/backups/${requested.body.id}`);
      expect(settled).toMatchObject({
        status: 'failed',
        snapshotId: null,
        failure: { code: 'SOURCE_FORBIDDEN', reason: expect.stringContaining('service data') },
      });
      expect(await filesUnder(repository)).toEqual(before);
    });

    describe('restore targets', () => {
      let backupId: string;
      let sourceId: string;
      let sourceFolder: string;

      beforeAll(async () => {
        sourceFolder = path.join(base, 'letters');
        await fs.mkdir(sourceFolder);
        await fs.writeFile(path.join(sourceFolder, 'letter.txt'), 'dear reader\n');
        sourceId = (await service.http().post('/sources').send({ name: 'letters', path: sourceFolder }).expect(201)).body.id;
        backupId = (await service.http().post('/backups').send({ sourceId, type: 'full' }).expect(202)).body.id;
        expect((await waitForStatus(service.http, `/backups/${backupId}`)).status).toBe('completed');
      });

      it('refuses a target inside, or holding, the target of a restore still open, and allows it once that one ended', async () => {
        const first = path.join(restoreRoot, 'busy', 'first');
        // A prune-like exclusive lock makes the restore wait, so it is certainly still open.
        const lock = await (await service.app.get(ServiceRepositoryProvider).repository()).lock('exclusive');
        let firstId: string;
        try {
          firstId = (await service.http().post('/restores').send({ backupId, target: first }).expect(202)).body.id;
          for (const target of [first, path.join(first, 'inner'), path.join(restoreRoot, 'busy')]) {
            const refused = await service.http().post('/restores').send({ backupId, target }).expect(409);
            expect(refused.body).toEqual({
              statusCode: 409,
              code: 'TARGET_IN_USE',
              message: expect.stringContaining('still requested or running'),
            });
          }
          // A sibling does not overlap.
          const sibling = (
            await service
              .http()
              .post('/restores')
              .send({ backupId, target: path.join(restoreRoot, 'busy', 'second') })
              .expect(202)
          ).body.id as string;
          await lock.release();
          expect((await waitForStatus(service.http, `/restores/${sibling}`)).status).toBe('completed');
        } finally {
          await lock.release();
        }
        expect((await waitForStatus(service.http, `/restores/${firstId}`)).status).toBe('completed');
        const later = await service
          .http()
          .post('/restores')
          .send({ backupId, target: path.join(first, 'inner') })
          .expect(202);
        expect((await waitForStatus(service.http, `/restores/${later.body.id}`)).status).toBe('completed');
      });

      it('refuses concurrent requests into overlapping targets: exactly one is accepted', async () => {
        const target = path.join(restoreRoot, 'race');
        const lock = await (await service.app.get(ServiceRepositoryProvider).repository()).lock('exclusive');
        try {
          const answers = await Promise.all(
            // Each overlaps each other one, whichever is checked first.
            [target, path.join(target, 'a'), target, path.join(target, 'a', 'b')].map((t) =>
              service.http().post('/restores').send({ backupId, target: t }),
            ),
          );
          expect(answers.map((answer) => answer.status).sort()).toEqual([202, 409, 409, 409]);
          expect(answers.filter((answer) => answer.status === 409).map((answer) => answer.body.code)).toEqual([
            'TARGET_IN_USE',
            'TARGET_IN_USE',
            'TARGET_IN_USE',
          ]);
          await lock.release();
          const accepted = answers.find((answer) => answer.status === 202);
          expect((await waitForStatus(service.http, `/restores/${accepted?.body.id}`)).status).toBe('completed');
        } finally {
          await lock.release();
        }
      });

      it('refuses a target inside a registered source (one whose folder now leads into the restore root)', async () => {
        const shared = path.join(restoreRoot, 'shared');
        await fs.mkdir(shared, { recursive: true });
        const folder = path.join(base, 'moved-source');
        await fs.mkdir(folder);
        await service.http().post('/sources').send({ name: 'moved', path: folder }).expect(201);
        await fs.rm(folder, { recursive: true });
        await fs.symlink(shared, folder);
        const refused = await service
          .http()
          .post('/restores')
          .send({ backupId, target: path.join(shared, 'copy') })
          .expect(409);
        expect(refused.body).toEqual({ statusCode: 409, code: 'TARGET_IN_SOURCE', message: expect.stringContaining('registered source') });
      });
    });
  });

  describe('with SOURCE_ROOTS', () => {
    let service: TestApp;
    let allowed: string;

    beforeAll(async () => {
      allowed = path.join(base, 'allowed');
      await fs.mkdir(path.join(allowed, 'crm'), { recursive: true });
      await fs.mkdir(path.join(base, 'elsewhere'), { recursive: true });
      service = await startApp({ SOURCE_ROOTS: `${path.join(base, 'none')}:${allowed}` });
    });
    afterAll(async () => {
      await service.close();
      await fs.rm(service.dataDir, { recursive: true, force: true });
    });

    it('allows sources inside a root only, by their real path', async () => {
      await service
        .http()
        .post('/sources')
        .send({ name: 'crm', path: path.join(allowed, 'crm') })
        .expect(201);
      await service.http().post('/sources').send({ name: 'root', path: allowed }).expect(201);
      const outside = await service
        .http()
        .post('/sources')
        .send({ name: 'x', path: path.join(base, 'elsewhere') })
        .expect(400);
      expect(outside.body).toMatchObject({ code: 'SOURCE_FORBIDDEN', message: expect.stringContaining('outside SOURCE_ROOTS:') });
      await fs.symlink(path.join(base, 'elsewhere'), path.join(allowed, 'door'));
      const viaLink = await service
        .http()
        .post('/sources')
        .send({ name: 'x', path: path.join(allowed, 'door') })
        .expect(400);
      expect(viaLink.body).toMatchObject({ code: 'SOURCE_FORBIDDEN', message: expect.stringContaining('outside SOURCE_ROOTS:') });
    });
  });
});

/**
 * The attack from the security review: a backed-up folder holds an absolute symlink to a folder
 * outside, and two restores are sent at once, one restoring the symlink into X, one into
 * X/esc/new. Whatever the order they run in, and whichever the API accepts, nothing may be
 * written through the link.
 */
describe('two chained restores through a restored symlink', () => {
  let base: string;
  let service: TestApp;

  beforeAll(async () => {
    base = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-chained-'));
    await fs.mkdir(path.join(base, 'data'));
    service = await startApp({ RESTORE_ROOTS: path.join(base, 'restores') }, path.join(base, 'data'));
  });
  afterAll(async () => {
    await service.close();
    await fs.rm(base, { recursive: true, force: true });
  });

  it('never writes outside the restore root, in five rounds', async () => {
    const outside = path.join(base, 'outside');
    const source = path.join(base, 'source');
    await fs.mkdir(outside);
    await fs.mkdir(source);
    await fs.writeFile(path.join(source, 'file.txt'), 'inside\n');
    await fs.symlink(outside, path.join(source, 'esc'));
    const sourceId = (await service.http().post('/sources').send({ name: 'chained', path: source }).expect(201)).body.id;
    const backupId = (await service.http().post('/backups').send({ sourceId, type: 'full' }).expect(202)).body.id;
    expect((await waitForStatus(service.http, `/backups/${backupId}`)).status).toBe('completed');

    for (let round = 0; round < 5; round++) {
      const x = path.join(base, 'restores', `x-${round}`);
      const answers = await Promise.all([
        service
          .http()
          .post('/restores')
          .send({ backupId, target: x, include: ['esc'] }),
        service
          .http()
          .post('/restores')
          .send({ backupId, target: path.join(x, 'esc', 'new') }),
      ]);
      for (const answer of answers) {
        expect([202, 400, 409]).toContain(answer.status);
        if (answer.status === 202) await waitForStatus(service.http, `/restores/${answer.body.id}`);
      }
      // And once the link is in place, a request into it is refused or fails; never written through.
      const late = await service
        .http()
        .post('/restores')
        .send({ backupId, target: path.join(x, 'esc', 'later') });
      expect([202, 400, 409]).toContain(late.status);
      if (late.status === 202) expect((await waitForStatus(service.http, `/restores/${late.body.id}`)).status).toBe('failed');
    }
    expect(await fs.readdir(outside)).toEqual([]);
  });
});
