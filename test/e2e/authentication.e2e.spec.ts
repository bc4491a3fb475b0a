import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EventStore } from '../../src/application/ports/event-store';
import { EVENT_STORE } from '../../src/application/tokens';
import { newApiToken } from '../../src/infrastructure/http/api-tokens';
import { startApp, TestApp, waitForStatus } from './embedded-app';

/**
 * With CUSTODIA_API_TOKENS_FILE, every REST and GraphQL call needs a bearer token, the token
 * decides who the actor is (X-Actor is ignored) and its role decides what the call may do. A
 * refused call records nothing.
 */
describe('API authentication and roles', () => {
  let service: TestApp;
  let source: string;
  let tokensFile: string;
  const tokens = {
    operator: newApiToken('operator:olga', 'operator'),
    dpo: newApiToken('dpo:jane', 'dpo'),
    auditor: newApiToken('auditor:kim', 'auditor'),
    secondOperator: newApiToken('operator:omar', 'operator'),
  };
  const bearer = (role: keyof typeof tokens) => `Bearer ${tokens[role].token}`;

  /** The status a backup or restore ends in, polled with the given role's token. */
  const settled = async (url: string, role: keyof typeof tokens): Promise<string> => {
    const body = await waitForStatus(() => authorized(role), url);
    return body.status;
  };
  /** A supertest agent whose every request carries the role's token. */
  const authorized = (role: keyof typeof tokens) => {
    const http = service.http();
    return { get: (url: string) => http.get(url).set('Authorization', bearer(role)) } as unknown as ReturnType<TestApp['http']>;
  };

  beforeAll(async () => {
    source = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-auth-'));
    await fs.mkdir(path.join(source, 'customers', 'c-1001'), { recursive: true });
    await fs.writeFile(path.join(source, 'customers', 'c-1001', 'contract.txt'), 'contract of c-1001\n');
    await fs.writeFile(path.join(source, 'handbook.txt'), 'staff handbook\n');
    tokensFile = path.join(source, '..', `${path.basename(source)}.tokens`);
    const lines = Object.values(tokens).map((entry) => entry.line);
    await fs.writeFile(tokensFile, ['# actor role digest', ...lines, ''].join('\n'), { mode: 0o600 });
    // With tokens, SOURCE_ROOTS is required: the test's source folder is the one allowed.
    service = await startApp({ RESTORE_TEST_INTERVAL_DAYS: '0', CUSTODIA_API_TOKENS_FILE: tokensFile, SOURCE_ROOTS: source });
  });

  afterAll(async () => {
    await service.close();
    await fs.rm(source, { recursive: true, force: true });
    await fs.rm(tokensFile, { force: true });
    await fs.rm(service.dataDir, { recursive: true, force: true });
  });

  /** How many events the log holds: a refused call must not add one. */
  const eventCount = async () => (await service.app.get<EventStore>(EVENT_STORE).readAll(0, 100_000)).length;

  it('refuses a call without a token, or with an unknown one, with 401 UNAUTHENTICATED', async () => {
    const missing = await service.http().get('/backups').expect(401);
    expect(missing.body).toEqual({ statusCode: 401, code: 'UNAUTHENTICATED', message: 'this API needs "Authorization: Bearer <token>"' });
    const forged = newApiToken('operator:olga', 'operator').token;
    const unknown = await service.http().get('/backups').set('Authorization', `Bearer ${forged}`).expect(401);
    expect(unknown.body.code).toBe('UNAUTHENTICATED');
    // X-Actor names nobody when tokens are in use.
    await service.http().get('/backups').set('X-Actor', 'operator:olga').expect(401);
    await service.http().get('/backups').set('Authorization', 'Basic b2xnYTpzZWNyZXQ=').expect(401);
  });

  it('lets each role do its own work, records the actor and role of its token, and refuses the rest with 403', async () => {
    const eventsBefore = await eventCount();

    // An auditor only reads: registering a source is refused, and nothing is recorded.
    const refused = await service
      .http()
      .post('/sources')
      .set('Authorization', bearer('auditor'))
      .send({ name: 'hr', path: source, purposes: ['payroll'] })
      .expect(403);
    expect(refused.body).toEqual({
      statusCode: 403,
      code: 'FORBIDDEN',
      message: 'the role auditor may not do this (it needs sources:manage)',
    });
    expect(await eventCount()).toBe(eventsBefore);

    // The operator registers and backs up; X-Actor cannot change who the trail names.
    const { body: created } = await service
      .http()
      .post('/sources')
      .set('Authorization', bearer('operator'))
      .set('X-Actor', 'someone-else')
      .send({ name: 'crm', path: source, purposes: ['customer service'], subjectRules: ['customers/{subject}/**'] })
      .expect(201);
    const { body: backup } = await service
      .http()
      .post('/backups')
      .set('Authorization', bearer('operator'))
      .send({ sourceId: created.id })
      .expect(202);
    expect(await settled(`/backups/${backup.id}`, 'operator')).toBe('completed');

    // The operator neither reads the audit trail nor touches data subjects.
    await service.http().get('/audit').set('Authorization', bearer('operator')).expect(403);
    await service
      .http()
      .post('/erasures')
      .set('Authorization', bearer('operator'))
      .send({ subjectId: 'c-1001', legalBasis: 'Art. 17(1)(a)', requestedBy: 'data-subject' })
      .expect(403);
    await service.http().post('/subjects/lookup').set('Authorization', bearer('operator')).send({ subjectId: 'c-1001' }).expect(403);
    // A restore of one subject's files is an access request: the DPO's, not the operator's.
    const target = path.join(service.config.restoreRoots[0], 'auth-subject');
    const subjectRestore = { backupId: backup.id, target, subjectId: 'c-1001' };
    await service.http().post('/restores').set('Authorization', bearer('operator')).send(subjectRestore).expect(403);
    // ... and a whole restore is the operator's, not the DPO's.
    await service
      .http()
      .post('/restores')
      .set('Authorization', bearer('dpo'))
      .send({ backupId: backup.id, target: path.join(service.config.restoreRoots[0], 'auth-whole') })
      .expect(403);

    // The DPO answers the access request and reads the trail.
    await service.http().post('/subjects/lookup').set('Authorization', bearer('dpo')).send({ subjectId: 'c-1001' }).expect(200);
    const { body: access } = await service.http().post('/restores').set('Authorization', bearer('dpo')).send(subjectRestore).expect(202);
    expect(await settled(`/restores/${access.id}`, 'dpo')).toBe('completed');
    expect(await fs.readFile(path.join(target, 'customers', 'c-1001', 'contract.txt'), 'utf8')).toBe('contract of c-1001\n');

    const { body: trail } = await service.http().get('/audit?limit=200').set('Authorization', bearer('dpo')).expect(200);
    const byAction = (action: string) => trail.items.filter((entry: { action: string }) => entry.action === action);
    expect(byAction('source.registered')).toEqual([expect.objectContaining({ actor: 'operator:olga', role: 'operator' })]);
    expect(byAction('backup.requested')).toEqual([expect.objectContaining({ actor: 'operator:olga', role: 'operator' })]);
    expect(byAction('subject.looked-up')).toEqual([expect.objectContaining({ actor: 'dpo:jane', role: 'dpo' })]);
    expect(byAction('restore.requested')).toEqual([expect.objectContaining({ actor: 'dpo:jane', role: 'dpo' })]);
    expect(trail.items.map((entry: { actor: string }) => entry.actor)).not.toContain('someone-else');

    // The auditor reads the catalog and verifies the chain, but cannot erase.
    await service.http().get(`/backups/${backup.id}`).set('Authorization', bearer('auditor')).expect(200);
    const { body: verification } = await service.http().get('/audit/verify').set('Authorization', bearer('auditor')).expect(200);
    expect(verification.valid).toBe(true);
    await service
      .http()
      .post('/erasures')
      .set('Authorization', bearer('auditor'))
      .send({ subjectId: 'c-1001', legalBasis: 'Art. 17(1)(a)', requestedBy: 'data-subject' })
      .expect(403);

    // An erasure's status (pseudonym and counts) is read by the DPO and the auditor, not the operator.
    const { body: erasure } = await service
      .http()
      .post('/erasures')
      .set('Authorization', bearer('dpo'))
      .send({ subjectId: 'c-1001', legalBasis: 'Art. 17(1)(a)', requestedBy: 'data-subject' })
      .expect(202);
    // (Polled: the erasures read model is a moment behind the event log.)
    const status = await waitForStatus(
      () => authorized('auditor'),
      `/erasures/${erasure.id}`,
      () => true,
    );
    expect(status).toMatchObject({ subject: erasure.subject, legalBasis: 'Art. 17(1)(a)' });
    await service.http().get(`/erasures/${erasure.id}`).set('Authorization', bearer('dpo')).expect(200);
    const operatorRead = await service.http().get(`/erasures/${erasure.id}`).set('Authorization', bearer('operator')).expect(403);
    expect(operatorRead.body.code).toBe('FORBIDDEN');
  });

  it('answers the health check without a token, and says nothing but whether the stores answer and this process leads', async () => {
    const { body } = await service.http().get('/health').expect(200);
    expect(body).toEqual({
      status: 'ok',
      checks: { eventStore: 'ok', readModel: 'ok', dataDir: 'ok', repository: 'ok' },
      leadership: { role: 'leader', since: expect.any(String), lease: 'data-dir-lock' },
    });
  });

  it('guards GraphQL the same way, with the codes in extensions', async () => {
    const gql = (authorization: string | null, query: string, status = 200) => {
      const call = service.http().post('/graphql');
      if (authorization) call.set('Authorization', authorization);
      return call.send({ query }).expect(status);
    };
    // Without a valid token nothing is parsed or run: the answer is a 401, as on REST.
    const anonymous = await gql(null, '{ sources { id } }', 401);
    expect(anonymous.body.errors[0].extensions).toMatchObject({ code: 'UNAUTHENTICATED', statusCode: 401 });
    const audit = await gql(bearer('operator'), '{ auditVerification { valid } }');
    expect(audit.body.errors[0].extensions).toMatchObject({ code: 'FORBIDDEN', statusCode: 403 });
    const mutation = await gql(bearer('auditor'), 'mutation { deleteBackup(id: "00000000-0000-4000-8000-000000000000") { id } }');
    expect(mutation.body.errors[0].extensions).toMatchObject({ code: 'FORBIDDEN', statusCode: 403 });
    // The schema is not handed out when tokens are in use: introspection is off.
    const introspection = await gql(bearer('auditor'), '{ __schema { types { name } } }', 400);
    expect(introspection.body.errors[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
    const allowed = await gql(bearer('auditor'), '{ auditVerification { valid } }');
    expect(allowed.body.data.auditVerification.valid).toBe(true);
  });

  it('never replays one caller’s answer to another caller using the same Idempotency-Key', async () => {
    const { body: sources } = await service.http().get('/sources').set('Authorization', bearer('operator')).expect(200);
    const request = { sourceId: sources[0].id };
    await service
      .http()
      .post('/backups')
      .set('Authorization', bearer('operator'))
      .set('Idempotency-Key', 'shared-key')
      .send(request)
      .expect(202);
    const reused = await service
      .http()
      .post('/backups')
      .set('Authorization', bearer('secondOperator'))
      .set('Idempotency-Key', 'shared-key')
      .send(request)
      .expect(409);
    expect(reused.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
    // The DPO may not request backups: 403, and the key stays the operator's.
    await service
      .http()
      .post('/backups')
      .set('Authorization', bearer('dpo'))
      .set('Idempotency-Key', 'shared-key')
      .send(request)
      .expect(403);
  });
});
