import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EventStore } from '../../src/application/ports/event-store';
import { EVENT_STORE } from '../../src/application/tokens';
import { GRAPHQL_LIMITS } from '../../src/infrastructure/graphql/limits';
import { newApiToken } from '../../src/infrastructure/http/api-tokens';
import { startApp, TestApp } from './embedded-app';

interface GraphQLAnswer {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions: { code: string } }[];
}

const codes = (body: GraphQLAnswer) => (body.errors ?? []).map((error) => error.extensions.code);
const aliases = (count: number, field: string) => `{ ${Array.from({ length: count }, (_, i) => `a${i}: ${field}`).join(' ')} }`;

describe('GraphQL limits (no tokens)', () => {
  let service: TestApp;
  let source: string;
  const gql = (query: string, variables: Record<string, unknown> = {}, headers: Record<string, string> = {}) =>
    service.http().post('/graphql').set('X-Actor', 'operator:gql').set(headers).send({ query, variables });

  beforeAll(async () => {
    source = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-gql-limits-'));
    await fs.writeFile(path.join(source, 'a.txt'), 'a\n');
    service = await startApp({ RESTORE_TEST_INTERVAL_DAYS: '0' });
  });
  afterAll(async () => {
    await service.close();
    await fs.rm(source, { recursive: true, force: true });
    await fs.rm(service.dataDir, { recursive: true, force: true });
  });

  it('refuses 1,000 aliases of auditVerification before running any, while /health is answered', async () => {
    const [refused, health] = await Promise.all([
      gql(aliases(1_000, 'auditVerification { valid entries }')),
      service.http().get('/health'),
    ]);
    expect(refused.status).toBe(400);
    expect(codes(refused.body as GraphQLAnswer)).toEqual(['TOO_MANY_ALIASES']);
    expect((refused.body as GraphQLAnswer).data).toBeUndefined();
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('ok');
  });

  it(`allows ${GRAPHQL_LIMITS.maxAliases} aliases, and refuses one more`, async () => {
    const allowed = await gql(aliases(GRAPHQL_LIMITS.maxAliases, 'sources { id }'));
    expect(allowed.status).toBe(200);
    expect((allowed.body as GraphQLAnswer).errors).toBeUndefined();
    const refused = await gql(aliases(GRAPHQL_LIMITS.maxAliases + 1, 'sources { id }'));
    expect(refused.status).toBe(400);
    expect(codes(refused.body as GraphQLAnswer)).toEqual(['TOO_MANY_ALIASES']);
  });

  it('refuses 2,000 aliases of sources as too large a query, before parsing it whole', async () => {
    const refused = await gql(aliases(2_000, 'sources { id name path subjectRules }'));
    expect(refused.status).toBe(400);
    expect(codes(refused.body as GraphQLAnswer)).toEqual(['QUERY_TOO_LARGE']);
  });

  it('refuses a query nested deeper than the limit, and text nested thousands of levels, with QUERY_TOO_DEEP', async () => {
    const deep = await gql('{ backups { items { statistics { files { a { b { c { d { e { f } } } } } } } } } }');
    expect(deep.status).toBe(400);
    expect(codes(deep.body as GraphQLAnswer)).toContain('QUERY_TOO_DEEP');
    const text = await gql(`{${'a{'.repeat(5_000)}b${'}'.repeat(5_001)}`);
    expect(text.status).toBe(400);
    expect(codes(text.body as GraphQLAnswer)).toEqual(['QUERY_TOO_DEEP']);
    // Brackets in strings and comments do not count.
    const quoted = await gql(`# ${'{'.repeat(100)}\n{ auditTrail(actor: "${'['.repeat(100)}") { total } }`);
    expect(quoted.status).toBe(200);
  });

  it('refuses a query whose fields cost more than the limit: each audit chain verification is expensive', async () => {
    const costly = await gql(aliases(5, 'auditVerification { valid }'));
    expect(costly.status).toBe(400);
    expect(codes(costly.body as GraphQLAnswer)).toEqual(['QUERY_TOO_COSTLY']);
    const oneVerification = await gql('{ auditVerification { valid } }');
    expect(oneVerification.status).toBe(200);
    // A full page of backups with every field is within the limit.
    const page = await gql(
      '{ backups(limit: 500) { total items { id sourceId type status requestedAt startedAt finishedAt attempt snapshotId merkleRoot deletedAt ' +
        'statistics { files directories bytesRead totalBytes newBytes storedBytes duplicateBytes chunks durationMs errors } failure { code reason } verification { status at } } } }',
    );
    expect(page.status).toBe(200);
    expect((page.body as GraphQLAnswer).errors).toBeUndefined();
  });

  it('gives no "Did you mean" suggestions', async () => {
    const response = await gql('{ sourcs { id } }');
    expect(response.status).toBe(400);
    expect(JSON.stringify(response.body)).not.toMatch(/Did you mean|"sources"/);
  });

  it('carries one command per request, and honours Idempotency-Key on it as REST does', async () => {
    const registered = await gql('mutation($input: RegisterSourceInput!) { registerSource(input: $input) { id } }', {
      input: { name: 'limits', path: source },
    });
    const sourceId = ((registered.body as GraphQLAnswer).data?.registerSource as { id: string }).id;
    const events = service.app.get<EventStore>(EVENT_STORE);
    const before = (await events.readAll(0, 100_000)).length;

    const two = await gql(
      `mutation { a: requestBackup(input: {sourceId: "${sourceId}", type: full}) { id } b: requestBackup(input: {sourceId: "${sourceId}", type: full}) { id } }`,
    );
    expect(two.status).toBe(400);
    expect(codes(two.body as GraphQLAnswer)).toEqual(['ONE_COMMAND_PER_REQUEST']);
    expect((await events.readAll(0, 100_000)).length).toBe(before);

    const request = `mutation { requestBackup(input: {sourceId: "${sourceId}", type: full}) { id status } }`;
    const first = await gql(request, {}, { 'Idempotency-Key': 'gql-backup-1' });
    const again = await gql(request, {}, { 'Idempotency-Key': 'gql-backup-1' });
    expect((first.body as GraphQLAnswer).errors).toBeUndefined();
    expect((again.body as GraphQLAnswer).data).toEqual((first.body as GraphQLAnswer).data);
    expect(again.headers['idempotent-replayed']).toBe('true');
    const requested = (await events.readAll(0, 100_000)).filter((event) => event.type === 'BackupRequested');
    expect(requested).toHaveLength(1);

    const reused = await gql(
      `mutation { requestBackup(input: {sourceId: "${sourceId}", type: incremental}) { id } }`,
      {},
      {
        'Idempotency-Key': 'gql-backup-1',
      },
    );
    expect(codes(reused.body as GraphQLAnswer)).toEqual(['IDEMPOTENCY_KEY_REUSED']);
  });

  it('answers client errors with client codes, never INTERNAL_SERVER_ERROR', async () => {
    const cases: [string, string][] = [
      ['{ backup(id: "00000000-0000-4000-8000-000000000000") { id } }', 'NOT_FOUND'],
      ['{ backup(id: "not-an-id") { id } }', 'NOT_FOUND'],
      ['mutation { requestBackup(input: {sourceId: "x", type: full}) { id } }', 'VALIDATION_FAILED'],
      ['mutation { cancelBackup(id: "00000000-0000-4000-8000-000000000000") { id } }', 'NOT_FOUND'],
      ['{ backups(limit: "x") { total } }', 'GRAPHQL_VALIDATION_FAILED'],
    ];
    for (const [query, code] of cases) {
      const response = await gql(query);
      expect(response.status).toBeLessThan(500);
      expect(codes(response.body as GraphQLAnswer)).toEqual([code]);
    }
  });
});

describe('GraphQL with API tokens', () => {
  let service: TestApp;
  let tokensFile: string;
  const auditor = newApiToken('auditor:kim', 'auditor');

  beforeAll(async () => {
    tokensFile = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-gql-tokens-')), 'tokens');
    await fs.writeFile(tokensFile, `${auditor.line}\n`, { mode: 0o600 });
    // With tokens, SOURCE_ROOTS is required; these tests register no source.
    service = await startApp({ RESTORE_TEST_INTERVAL_DAYS: '0', CUSTODIA_API_TOKENS_FILE: tokensFile, SOURCE_ROOTS: os.tmpdir() });
  });
  afterAll(async () => {
    await service.close();
    await fs.rm(path.dirname(tokensFile), { recursive: true, force: true });
    await fs.rm(service.dataDir, { recursive: true, force: true });
  });

  it('answers {__typename} and even a bad query with 401 UNAUTHENTICATED without a valid token', async () => {
    for (const query of ['{ __typename }', '{ sourcs { id } }', '{ __schema { types { name } } }']) {
      for (const authorization of [undefined, 'Bearer cst_not-a-token']) {
        const request = service.http().post('/graphql');
        if (authorization) request.set('Authorization', authorization);
        const response = await request.send({ query });
        expect(response.status).toBe(401);
        expect(codes(response.body as GraphQLAnswer)).toEqual(['UNAUTHENTICATED']);
        expect((response.body as GraphQLAnswer).data).toBeUndefined();
      }
    }
  });

  it('keeps introspection off for a valid token, and answers it', async () => {
    const call = (query: string) => service.http().post('/graphql').set('Authorization', `Bearer ${auditor.token}`).send({ query });
    const typename = await call('{ __typename }');
    expect(typename.status).toBe(200);
    expect(typename.body).toEqual({ data: { __typename: 'Query' } });
    const schema = await call('{ __schema { types { name } } }');
    expect(schema.status).toBe(400);
    expect(JSON.stringify(schema.body)).not.toContain('"Backup"');
  });
});
