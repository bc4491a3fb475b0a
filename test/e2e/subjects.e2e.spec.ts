import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { snapshotTree, startApp, TestApp, waitForStatus } from './embedded-app';

const CLI = path.resolve(__dirname, '../../dist/cli/main.js');
const SECRET = 'e2e-pseudonym-secret-of-32-bytes!';

/**
 * Sources with subject rules: the service's backups keep each data subject under its own key,
 * and after that key is shredded, restores of the service leave the subject out and say so.
 */
describe('data subjects through the service', () => {
  let service: TestApp;
  let source: string;

  beforeAll(async () => {
    source = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-subjects-'));
    for (const [file, content] of [
      ['customers/alice@example.com/profile.json', '{"name":"Alice Example","email":"alice@example.com"}'],
      ['customers/alice@example.com/invoices/2026-01.txt', 'invoice for Alice Example\n'.repeat(50)],
      ['customers/bob@example.com/profile.json', '{"name":"Bob Example","email":"bob@example.com"}'],
      ['shared/readme.txt', 'not personal\n'],
    ]) {
      await fs.mkdir(path.dirname(path.join(source, file)), { recursive: true });
      await fs.writeFile(path.join(source, file), content);
    }
    service = await startApp({ CUSTODIA_PSEUDONYM_SECRET: SECRET });
  });

  afterAll(async () => {
    await service.close();
    await fs.rm(source, { recursive: true, force: true });
    await fs.rm(service.dataDir, { recursive: true, force: true });
  });

  it('refuses a malformed subject rule with a 400', async () => {
    const response = await service
      .http()
      .post('/sources')
      .send({ name: 'bad', path: source, subjectRules: ['customers/{subject}/orders/{subject}'] });
    expect(response.status).toBe(400);
    expect(response.body.message).toContain('subjectRules');
  });

  it('restores without an erased subject and reports what it left out', async () => {
    const { body: registered } = await service
      .http()
      .post('/sources')
      .send({ name: 'customers', path: source, subjectRules: ['customers/{subject}/**'] })
      .expect(201);
    expect(registered.subjectRules).toEqual(['customers/{subject}/**']);
    const { body: backup } = await service.http().post('/backups').send({ sourceId: registered.id, type: 'full' }).expect(202);
    expect(await waitForStatus(service.http, `/backups/${backup.id}`)).toMatchObject({ status: 'completed' });

    // Erasure of alice, as the engine's command does it (the API for it is still to come).
    const shred = spawnSync(
      process.execPath,
      [CLI, 'subject', 'shred', 'alice@example.com', '--repo', path.join(service.dataDir, 'repository')],
      {
        env: { ...process.env, CUSTODIA_PASSPHRASE: 'e2e-passphrase', CUSTODIA_PSEUDONYM_SECRET: SECRET },
        encoding: 'utf8',
      },
    );
    expect(shred.stderr).toBe('');
    expect(shred.status).toBe(0);

    const target = path.join(service.config.restoreRoots[0], 'after-erasure');
    const { body: restore } = await service.http().post('/restores').send({ backupId: backup.id, target }).expect(202);
    const restored = await waitForStatus(service.http, `/restores/${restore.id}`);
    expect(restored.status).toBe('completed');
    expect(restored.skippedErased).toEqual({ files: 2, bytes: expect.any(Number) });
    expect((restored.skippedErased as { bytes: number }).bytes).toBeGreaterThan(0);

    const tree = await snapshotTree(target);
    expect(Object.keys(tree).filter((name) => name.includes('alice'))).toEqual([]);
    expect(tree['customers/bob@example.com/profile.json']).toBe(
      Buffer.from('{"name":"Bob Example","email":"bob@example.com"}').toString('base64'),
    );
    expect(tree['shared/readme.txt']).toBeDefined();

    // No subject's name reached the event log or the read models.
    for (const file of ['events.db', 'readmodel.db']) {
      const bytes = await fs.readFile(path.join(service.dataDir, file));
      for (const planted of ['alice', 'Alice Example', 'bob@example.com'])
        expect({ file, planted, found: bytes.includes(planted) }).toEqual({ file, planted, found: false });
    }
  });

  it('refuses to start with a pseudonymisation secret other than the one the repository was set up with', async () => {
    const started = spawnSync(process.execPath, [path.resolve(__dirname, '../../dist/main.js')], {
      env: {
        ...process.env,
        DATA_DIR: service.dataDir,
        PORT: '0',
        CUSTODIA_PASSPHRASE: 'e2e-passphrase',
        CUSTODIA_PSEUDONYM_SECRET: 'a-different-secret-of-enough-length',
      },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(started.status).toBe(1);
    expect(started.stderr).toMatch(/custodia: error \[PSEUDONYM_SECRET_MISSING\]: CUSTODIA_PSEUDONYM_SECRET is not the secret/);
    expect(started.stderr).not.toContain('    at ');
  });
});
