import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigurationError, loadConfiguration } from '../../src/infrastructure/config/configuration';
import { newApiToken } from '../../src/infrastructure/http/api-tokens';
import { startApp, TestApp } from './embedded-app';

const UNKNOWN = '00000000-0000-4000-8000-000000000000';

describe('RATE_LIMIT_COMMANDS_PER_MINUTE', () => {
  it('defaults to 600, takes 0 to turn the limit off, and refuses anything else', () => {
    expect(loadConfiguration({ DATA_DIR: '/tmp/custodia-rate' }).commandsPerMinute).toBe(600);
    expect(loadConfiguration({ DATA_DIR: '/tmp/custodia-rate', RATE_LIMIT_COMMANDS_PER_MINUTE: '0' }).commandsPerMinute).toBe(0);
    expect(() => loadConfiguration({ DATA_DIR: '/tmp/custodia-rate', RATE_LIMIT_COMMANDS_PER_MINUTE: 'lots' })).toThrow(ConfigurationError);
  });
});

describe('rate limit on commands, without tokens (per client address)', () => {
  let service: TestApp;
  beforeAll(async () => {
    service = await startApp({ RESTORE_TEST_INTERVAL_DAYS: '0', RATE_LIMIT_COMMANDS_PER_MINUTE: '3' });
  });
  afterAll(async () => {
    await service.close();
    await fs.rm(service.dataDir, { recursive: true, force: true });
  });

  it('answers the command over the limit 429 RATE_LIMITED with Retry-After, whatever X-Actor says, and keeps answering reads', async () => {
    for (let i = 0; i < 3; i++) {
      await service.http().post('/backups').set('X-Actor', `operator:${i}`).send({ sourceId: UNKNOWN, type: 'full' }).expect(404);
    }
    const limited = await service.http().post('/backups').set('X-Actor', 'operator:other').send({ sourceId: UNKNOWN, type: 'full' });
    expect(limited.status).toBe(429);
    expect(limited.body).toMatchObject({ statusCode: 429, code: 'RATE_LIMITED' });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // Every command counts, DELETE and GraphQL mutations too.
    expect((await service.http().delete(`/sources/${UNKNOWN}`)).status).toBe(429);
    const mutation = await service
      .http()
      .post('/graphql')
      .send({ query: `mutation { removeSource(id: "${UNKNOWN}") { id } }` });
    expect(mutation.status).toBe(429);
    expect(mutation.body.errors[0].extensions).toMatchObject({ code: 'RATE_LIMITED', statusCode: 429 });
    expect(Number(mutation.headers['retry-after'])).toBeGreaterThan(0);
    // Reads are not commands.
    await service.http().get('/backups').expect(200);
    const query = await service.http().post('/graphql').send({ query: '{ sources { id } }' });
    expect(query.status).toBe(200);
    expect(query.body.errors).toBeUndefined();
  });
});

describe('rate limit on commands, with tokens (per actor)', () => {
  let service: TestApp;
  let dir: string;
  const olga = newApiToken('operator:olga', 'operator');
  const omar = newApiToken('operator:omar', 'operator');

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-rate-tokens-'));
    await fs.writeFile(path.join(dir, 'tokens'), `${olga.line}\n${omar.line}\n`, { mode: 0o600 });
    service = await startApp({
      RESTORE_TEST_INTERVAL_DAYS: '0',
      RATE_LIMIT_COMMANDS_PER_MINUTE: '2',
      CUSTODIA_API_TOKENS_FILE: path.join(dir, 'tokens'),
      // Required with tokens; the sources these tests register live in the temp folder.
      SOURCE_ROOTS: os.tmpdir(),
    });
  });
  afterAll(async () => {
    await service.close();
    await fs.rm(dir, { recursive: true, force: true });
    await fs.rm(service.dataDir, { recursive: true, force: true });
  });

  it("counts each token's commands on their own", async () => {
    const post = (token: string) =>
      service.http().post('/backups').set('Authorization', `Bearer ${token}`).send({ sourceId: UNKNOWN, type: 'full' });
    expect([(await post(olga.token)).status, (await post(olga.token)).status, (await post(olga.token)).status]).toEqual([404, 404, 429]);
    expect((await post(omar.token)).status).toBe(404);
  });
});

describe('rate limit turned off', () => {
  let service: TestApp;
  beforeAll(async () => {
    service = await startApp({ RESTORE_TEST_INTERVAL_DAYS: '0', RATE_LIMIT_COMMANDS_PER_MINUTE: '0' });
  });
  afterAll(async () => {
    await service.close();
    await fs.rm(service.dataDir, { recursive: true, force: true });
  });

  it('lets every command through', async () => {
    for (let i = 0; i < 50; i++) {
      await service.http().post('/backups').send({ sourceId: UNKNOWN, type: 'full' }).expect(404);
    }
  });
});
