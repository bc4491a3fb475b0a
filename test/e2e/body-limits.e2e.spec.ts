import { exceedsJsonDepth, MAX_JSON_DEPTH } from '../../src/infrastructure/http/body-limits';
import { apiRoutes, fill } from '../support/api-routes';
import { startApp, TestApp } from './embedded-app';

const ID = '00000000-0000-4000-8000-000000000000';
const arrays = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);
const objects = (levels: number) => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);

describe('JSON depth scanner', () => {
  it('counts the brackets outside strings only, escaped quotes included', () => {
    expect(exceedsJsonDepth(Buffer.from(arrays(3)), 3)).toBe(false);
    expect(exceedsJsonDepth(Buffer.from(arrays(4)), 3)).toBe(true);
    expect(exceedsJsonDepth(Buffer.from(objects(4)), 3)).toBe(true);
    expect(exceedsJsonDepth(Buffer.from(JSON.stringify({ a: '[[[[{{{{' })), 1)).toBe(false);
    expect(exceedsJsonDepth(Buffer.from(JSON.stringify({ a: 'say \\"[[[[\\"', b: '\\' })), 1)).toBe(false);
    expect(exceedsJsonDepth(Buffer.from(`[${JSON.stringify('"')}, [[]]]`), 2)).toBe(true);
    // Siblings do not add up: depth is how deep, not how many.
    expect(exceedsJsonDepth(Buffer.from(JSON.stringify(Array.from({ length: 1000 }, () => [[1]]))), 3)).toBe(false);
  });
});

describe('embedded service: request bodies', () => {
  let service: TestApp;
  beforeAll(async () => {
    service = await startApp({ RESTORE_TEST_INTERVAL_DAYS: '0' });
  });
  afterAll(() => service.close());

  /** Every endpoint that reads a body (POST, PATCH, PUT), GraphQL's among them; DELETE too, since a body sent with it is parsed. */
  const withBody = [
    ...apiRoutes()
      .filter((route) => route.method !== 'get')
      .map((route) => [route.method, fill(route.path, ID)] as const),
    ['post', '/graphql'] as const,
  ];

  it('covers every command endpoint', () => {
    expect(withBody.length).toBeGreaterThanOrEqual(11);
  });

  it.each(withBody)('%s %s: 10,000 levels of nesting is a 400 PAYLOAD_TOO_DEEP, not a 500', async (method, url) => {
    for (const body of [arrays(10_000), objects(10_000)]) {
      const response = await service.http()[method](url).set('content-type', 'application/json').send(body);
      expect(response.status).toBe(400);
      expect(response.body).toMatchObject({ statusCode: 400, code: 'PAYLOAD_TOO_DEEP' });
    }
  });

  it.each(withBody)('%s %s: malformed JSON is a 400 INVALID_JSON', async (method, url) => {
    const response = await service.http()[method](url).set('content-type', 'application/json').send('{"name": ');
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ statusCode: 400, code: 'INVALID_JSON' });
  });

  it(`accepts ${MAX_JSON_DEPTH} levels, and answers with the field errors as before`, async () => {
    const response = await service
      .http()
      .post('/sources')
      .set('content-type', 'application/json')
      .send(`{"name": "x", "path": "/tmp", "purposes": ${arrays(MAX_JSON_DEPTH - 1)}}`);
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('VALIDATION_FAILED');
  });
});
