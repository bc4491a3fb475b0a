import { promises as fs } from 'node:fs';
import { ReadModel } from '../../src/application/projections/read-model';
import { READ_MODEL } from '../../src/application/tokens';
import { startApp, TestApp } from './embedded-app';

/** GET /health, for load balancers: 200 while the stores answer, 503 naming the one that does not. */
describe('health check', () => {
  let service: TestApp;

  beforeAll(async () => {
    service = await startApp({ RESTORE_TEST_INTERVAL_DAYS: '0' });
  });

  afterAll(async () => {
    await service.close().catch(() => undefined);
    await fs.rm(service.dataDir, { recursive: true, force: true });
  });

  it('is 200 while the event store and the read model answer, and 503 naming the one that stops answering', async () => {
    expect((await service.http().get('/health').expect(200)).body).toEqual({ status: 'ok', checks: { eventStore: 'ok', readModel: 'ok' } });
    await service.app.get<ReadModel>(READ_MODEL).destroy();
    expect((await service.http().get('/health').expect(503)).body).toEqual({
      status: 'unavailable',
      checks: { eventStore: 'ok', readModel: 'unreachable' },
    });
  });
});
