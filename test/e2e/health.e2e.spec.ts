import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ReadModel } from '../../src/application/projections/read-model';
import { READ_MODEL } from '../../src/application/tokens';
import { startApp, TestApp } from './embedded-app';

const MAIN = path.resolve(__dirname, '../../dist/main.js');

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
    const leadership = { role: 'leader', since: expect.any(String), lease: 'data-dir-lock' };
    expect((await service.http().get('/health').expect(200)).body).toEqual({
      status: 'ok',
      checks: { eventStore: 'ok', readModel: 'ok', dataDir: 'ok', repository: 'ok' },
      leadership,
    });
    await service.app.get<ReadModel>(READ_MODEL).destroy();
    expect((await service.http().get('/health').expect(503)).body).toEqual({
      status: 'unavailable',
      checks: { eventStore: 'ok', readModel: 'unreachable', dataDir: 'ok', repository: 'ok' },
      leadership,
    });
  });
});

describe("health check of the service's folders", () => {
  it('is 503 naming the folders with less room than HEALTH_MIN_FREE_BYTES, and still answers the API', async () => {
    // More than any disk holds: every folder of the service counts as full.
    const full = await startApp({ RESTORE_TEST_INTERVAL_DAYS: '0', HEALTH_MIN_FREE_BYTES: String(2 ** 52) });
    try {
      expect((await full.http().get('/health').expect(503)).body).toMatchObject({
        status: 'unavailable',
        checks: { eventStore: 'ok', readModel: 'ok', dataDir: 'full', repository: 'full' },
      });
      await full.http().get('/sources').expect(200);
    } finally {
      await full.close();
      await fs.rm(full.dataDir, { recursive: true, force: true });
    }
  });
});

describe('one serve per DATA_DIR in the embedded mode', () => {
  it('refuses a second service on a DATA_DIR in use, naming why, and starts once the first has stopped', async () => {
    const first = await startApp({ RESTORE_TEST_INTERVAL_DAYS: '0' });
    try {
      await expect(startApp({ RESTORE_TEST_INTERVAL_DAYS: '0' }, first.dataDir)).rejects.toThrow(
        `DATA_DIR ${first.dataDir} is in use by another custodia serve`,
      );
    } finally {
      await first.close();
    }
    const second = await startApp({ RESTORE_TEST_INTERVAL_DAYS: '0' }, first.dataDir);
    // `custodia serve` itself says so in one line, with a stable code.
    const started = spawnSync(process.execPath, [MAIN], {
      env: { ...process.env, DATA_DIR: first.dataDir, PORT: '0', CUSTODIA_PASSPHRASE: 'e2e-passphrase', CUSTODIA_KDF_N: '1024' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(started.status).toBe(1);
    expect(started.stderr.trim().split('\n')).toEqual([
      `custodia: error [DATA_DIR_IN_USE]: DATA_DIR ${first.dataDir} is in use by another custodia serve: the embedded mode runs one process per DATA_DIR (run several on PostgreSQL, see README, Distributed setup)`,
    ]);
    expect((await second.http().get('/health').expect(200)).body.leadership.role).toBe('leader');
    await second.close();
    await fs.rm(first.dataDir, { recursive: true, force: true });
  });
});
