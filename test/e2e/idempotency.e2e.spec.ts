import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
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
});
