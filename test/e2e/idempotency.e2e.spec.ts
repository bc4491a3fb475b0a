import { createHash, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ReadModel } from '../../src/application/projections/read-model';
import { READ_MODEL } from '../../src/application/tokens';
import { ABANDONED_AFTER_MS } from '../../src/infrastructure/http/idempotency.interceptor';
import { startApp, TestApp, waitForStatus } from './embedded-app';

describe('Idempotency-Key', () => {
  let service: TestApp;
  let source: string;
  let sourceId: string;

  beforeAll(async () => {
    source = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-idem-'));
    await fs.writeFile(path.join(source, 'a.txt'), 'a');
    service = await startApp();
    sourceId = (await service.http().post('/sources').send({ name: 'idem', path: source }).expect(201)).body.id;
  });

  afterAll(async () => {
    await service.close();
    await fs.rm(source, { recursive: true, force: true });
    await fs.rm(service.dataDir, { recursive: true, force: true });
  });

  it('lets only one of several simultaneous identical requests act', async () => {
    const key = randomUUID();
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => service.http().post('/backups').set('Idempotency-Key', key).send({ sourceId, type: 'full' })),
    );
    const accepted = answers.filter((answer) => answer.status === 202);
    expect(
      answers.every((answer) => answer.status === 202 || (answer.status === 409 && answer.body.code === 'IDEMPOTENCY_KEY_IN_PROGRESS')),
    ).toBe(true);
    expect(new Set(accepted.map((answer) => answer.body.id)).size).toBe(1);
    await waitForStatus(service.http, `/backups/${accepted[0].body.id}`);
    const replay = await service.http().post('/backups').set('Idempotency-Key', key).send({ sourceId, type: 'full' }).expect(202);
    expect(replay.body.id).toBe(accepted[0].body.id);
    const { body: catalog } = await service.http().get('/backups').query({ sourceId }).expect(200);
    expect(catalog.total).toBe(1);
  });

  it('releases the key of a request that failed, so the client can correct and retry it', async () => {
    const key = randomUUID();
    await service.http().post('/backups').set('Idempotency-Key', key).send({ sourceId: randomUUID() }).expect(404);
    await service.http().post('/backups').set('Idempotency-Key', key).send({ sourceId }).expect(202);
  });

  it('keys its fingerprints, so a stored row cannot be matched against a guessed subject id, and scopes a key to its caller', async () => {
    const key = randomUUID();
    const body = { subjectId: 'c-4711', legalBasis: 'Art. 17(1)(a)', requestedBy: 'dpo' };
    await service.http().post('/erasures').set('X-Actor', 'dpo:jane').set('Idempotency-Key', key).send(body).expect(202);
    const row = await service.app
      .get<ReadModel>(READ_MODEL)
      .selectFrom('idempotency_keys')
      .selectAll()
      .where('key', '=', key)
      .executeTakeFirstOrThrow();
    for (const guess of [`dpo:jane POST /erasures ${JSON.stringify(body)}`, `POST /erasures ${JSON.stringify(body)}`]) {
      expect(row.fingerprint).not.toBe(createHash('sha256').update(guess).digest('hex'));
    }
    expect(JSON.stringify(row)).not.toContain('c-4711');
    // Another caller with the same key and body is refused, not given the first caller's answer.
    const other = await service.http().post('/erasures').set('X-Actor', 'dpo:omar').set('Idempotency-Key', key).send(body).expect(409);
    expect(other.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
    await service.http().post('/erasures').set('X-Actor', 'dpo:jane').set('Idempotency-Key', key).send(body).expect(202);
  });

  it('takes over a key left in progress by a process that died mid-request, and still refuses one held right now', async () => {
    const db = service.app.get<ReadModel>(READ_MODEL);
    const [abandoned, held] = [randomUUID(), randomUUID()];
    const past = new Date(Date.now() - ABANDONED_AFTER_MS - 60_000).toISOString();
    await db
      .insertInto('idempotency_keys')
      .values([
        { key: abandoned, fingerprint: 'of the dead request', status_code: 0, body: 'null', created_at: past },
        { key: held, fingerprint: 'of a live request', status_code: 0, body: 'null', created_at: new Date().toISOString() },
      ])
      .execute();
    const { body } = await service.http().post('/backups').set('Idempotency-Key', abandoned).send({ sourceId }).expect(202);
    const replay = await service.http().post('/backups').set('Idempotency-Key', abandoned).send({ sourceId }).expect(202);
    expect(replay.body.id).toBe(body.id);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    const refused = await service.http().post('/backups').set('Idempotency-Key', held).send({ sourceId }).expect(409);
    expect(refused.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
    await waitForStatus(service.http, `/backups/${body.id}`);
  });
});
