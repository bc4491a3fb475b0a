import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { eventually, startApp, TestApp } from './embedded-app';

/**
 * The GraphQL API on the embedded service: the same commands and queries as REST, the same
 * validation and error codes, the caller named by X-Actor.
 */
describe('GraphQL API', () => {
  let service: TestApp;
  let source: string;

  /** Operations answer 200, errors included; a query that does not fit the schema is a 400 (Apollo). */
  const gql = async (query: string, variables: Record<string, unknown> = {}, status = 200) => {
    const response = await service.http().post('/graphql').set('X-Actor', 'operator:gql').send({ query, variables }).expect(status);
    // Each answer has the shape its query asked for; the assertions below check it.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    return response.body as { data?: Record<string, any>; errors?: { message: string; extensions: { code: string } }[] };
  };

  beforeAll(async () => {
    source = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-graphql-'));
    await fs.writeFile(path.join(source, 'minutes.txt'), 'minutes of the meeting\n');
    service = await startApp({ RESTORE_TEST_INTERVAL_DAYS: '0' });
  });

  afterAll(async () => {
    await service.close();
    await fs.rm(source, { recursive: true, force: true });
    await fs.rm(service.dataDir, { recursive: true, force: true });
  });

  it('registers a source, backs it up, restores it, deletes the backup, and reads the audit trail', async () => {
    const registered = await gql(
      'mutation($input: RegisterSourceInput!) { registerSource(input: $input) { id name status subjectRules } }',
      {
        input: { name: 'minutes', path: source, purposes: ['business continuity'] },
      },
    );
    expect(registered.errors).toBeUndefined();
    const sourceId = registered.data?.registerSource.id as string;
    expect(registered.data?.registerSource).toMatchObject({ name: 'minutes', status: 'active', subjectRules: [] });

    const requested = await gql('mutation($input: RequestBackupInput!) { requestBackup(input: $input) { id status type } }', {
      input: { sourceId, type: 'full' },
    });
    expect(requested.data?.requestBackup).toMatchObject({ status: 'requested', type: 'full' });
    const backupId = requested.data?.requestBackup.id as string;
    const completed = await eventually(async () => {
      const { data } = await gql('query($id: ID!) { backup(id: $id) { status snapshotId statistics { files totalBytes } } }', {
        id: backupId,
      });
      expect(data?.backup.status).toBe('completed');
      return data?.backup;
    });
    // Bytes: a decimal string, exact beyond 2^53.
    expect(completed.statistics).toEqual({ files: 1, totalBytes: '23' });
    const listed = await gql('query($sourceId: ID) { backups(sourceId: $sourceId) { total items { id } } sources { id } }', { sourceId });
    expect(listed.data).toEqual({ backups: { total: 1, items: [{ id: backupId }] }, sources: [{ id: sourceId }] });

    const target = path.join(service.config.restoreRoots[0], 'from-graphql');
    const restore = await gql('mutation($input: RequestRestoreInput!) { requestRestore(input: $input) { id status purpose } }', {
      input: { backupId, target },
    });
    expect(restore.data?.requestRestore).toMatchObject({ status: 'requested', purpose: 'operational restore' });
    await eventually(async () => {
      const { data } = await gql('query($id: ID!) { restore(id: $id) { status files } }', { id: restore.data?.requestRestore.id });
      expect(data?.restore).toEqual({ status: 'completed', files: 1 });
    });
    expect(await fs.readFile(path.join(target, 'minutes.txt'), 'utf8')).toBe('minutes of the meeting\n');
    const history = await gql('query($backupId: ID) { restores(backupId: $backupId) { total items { status files } } }', { backupId });
    expect(history.data?.restores).toEqual({ total: 1, items: [{ status: 'completed', files: 1 }] });

    const deletion = await gql('mutation($id: ID!) { deleteBackup(id: $id) { id status } }', { id: backupId });
    expect(deletion.data?.deleteBackup).toEqual({ id: backupId, status: 'deleting' });
    await eventually(async () => {
      const { data } = await gql('query($id: ID!) { backup(id: $id) { status deletedAt } }', { id: backupId });
      expect(data?.backup).toMatchObject({ status: 'deleted', deletedAt: expect.any(String) });
    });

    const audit = await gql('{ auditTrail(actor: "operator:gql") { total items { action outcome details } } auditVerification { valid } }');
    expect(audit.data?.auditTrail.items.map((entry: { action: string }) => entry.action)).toEqual([
      'source.registered',
      'backup.requested',
      'restore.requested',
      'backup.deletion-requested',
    ]);
    expect(JSON.parse(audit.data?.auditTrail.items[1].details)).toEqual({ sourceId, backupType: 'full' });
    expect(audit.data?.auditVerification).toEqual({ valid: true });
  });

  it("answers a subject access request (Art. 15) with the subject's backups, by pseudonym only", async () => {
    const customers = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-graphql-subjects-'));
    await fs.mkdir(path.join(customers, 'customers', 'alice@example.com'), { recursive: true });
    await fs.writeFile(path.join(customers, 'customers', 'alice@example.com', 'profile.json'), '{"name":"Alice"}');
    const registered = await gql('mutation($input: RegisterSourceInput!) { registerSource(input: $input) { id subjectRules } }', {
      input: { name: 'customers', path: customers, subjectRules: ['customers/{subject}/**'] },
    });
    const sourceId = registered.data?.registerSource.id as string;
    const requested = await gql('mutation($input: RequestBackupInput!) { requestBackup(input: $input) { id } }', { input: { sourceId } });
    const backupId = requested.data?.requestBackup.id as string;
    await eventually(async () => {
      const { data } = await gql('query($id: ID!) { backup(id: $id) { status } }', { id: backupId });
      expect(data?.backup.status).toBe('completed');
    });
    const lookup = await gql(
      'query($input: SubjectLookupInput!) { subjectData(input: $input) { subject status backups { backupId files } totals { files } } }',
      {
        input: { subjectId: 'alice@example.com' },
      },
    );
    expect(lookup.data?.subjectData).toEqual({
      subject: expect.stringMatching(/^[A-Za-z0-9_-]+$/),
      status: 'active',
      backups: [{ backupId, files: 1 }],
      totals: { files: 1 },
    });
    expect(JSON.stringify(lookup)).not.toContain('alice@example.com');
    await fs.rm(customers, { recursive: true, force: true });
  });

  it('changes and removes a source, verifies a backup, and refuses to cancel a finished one, as REST does', async () => {
    const registered = await gql('mutation($input: RegisterSourceInput!) { registerSource(input: $input) { id registeredAt } }', {
      input: { name: 'agendas', path: source },
    });
    const sourceId = registered.data?.registerSource.id as string;
    const updated = await gql(
      'mutation($id: ID!, $input: UpdateSourceInput!) { updateSource(id: $id, input: $input) { id name path purposes status } }',
      { id: sourceId, input: { name: 'board agendas', purposes: ['governance'] } },
    );
    expect(updated.data?.updateSource).toEqual({
      id: sourceId,
      name: 'board agendas',
      path: source,
      purposes: ['governance'],
      status: 'active',
    });

    const requested = await gql('mutation($input: RequestBackupInput!) { requestBackup(input: $input) { id } }', { input: { sourceId } });
    const backupId = requested.data?.requestBackup.id as string;
    await eventually(async () => {
      const { data } = await gql('query($id: ID!) { backup(id: $id) { status } }', { id: backupId });
      expect(data?.backup.status).toBe('completed');
    });
    const verification = await gql('mutation($id: ID!) { verifyBackup(id: $id) { id verification } }', { id: backupId });
    expect(verification.data?.verifyBackup).toEqual({ id: backupId, verification: 'requested' });
    await eventually(async () => {
      const { data } = await gql('query($id: ID!) { backup(id: $id) { verification { status } } }', { id: backupId });
      expect(data?.backup.verification.status).toBe('verified');
    });
    const cancel = await gql('mutation($id: ID!) { cancelBackup(id: $id, reason: "too late") { id status } }', { id: backupId });
    expect(cancel.errors?.[0].extensions).toMatchObject({ code: 'INVALID_TRANSITION', statusCode: 409 });

    const removed = await gql('mutation($id: ID!) { removeSource(id: $id) { id status } }', { id: sourceId });
    expect(removed.data?.removeSource).toEqual({ id: sourceId, status: 'removed' });
    const refused = await gql('mutation($input: RequestBackupInput!) { requestBackup(input: $input) { id } }', { input: { sourceId } });
    expect(refused.errors?.[0].extensions.code).toBe('INVALID_TRANSITION');
  });

  it('lets a tool read the schema by introspection (an installation without tokens)', async () => {
    const schema = await gql('{ __schema { mutationType { fields { name } } } }');
    expect(schema.data?.__schema.mutationType.fields.map((field: { name: string }) => field.name)).toEqual(
      expect.arrayContaining(['cancelBackup', 'deleteBackup', 'registerSource', 'requestErasure', 'updateSource', 'verifyBackup']),
    );
  });

  it('refuses a value outside an enum at validation, with a GraphQL error and not a 500', async () => {
    const sourceId = '00000000-0000-4000-8000-000000000000';
    const literal = await gql(`mutation { requestBackup(input: {sourceId: "${sourceId}", type: weekly}) { id } }`, {}, 400);
    // A string where an enum is expected is refused too: enum literals have no quotes.
    const quoted = await gql(`mutation { requestBackup(input: {sourceId: "${sourceId}", type: "full"}) { id } }`, {}, 400);
    const filter = await gql('{ backups(status: lost) { total } restores(status: deleted) { total } }', {}, 400);
    for (const answer of [literal, quoted, filter]) {
      expect(answer.data).toBeUndefined();
      expect(answer.errors?.[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
    }
    expect(literal.errors?.[0].message).toMatch(/BackupType/);
    expect(filter.errors?.map((error) => error.message).join('\n')).toMatch(/BackupStatus[\s\S]*RestoreStatus/);

    const variable = await service
      .http()
      .post('/graphql')
      .send({
        query: 'mutation($input: RequestBackupInput!) { requestBackup(input: $input) { id } }',
        variables: { input: { sourceId, type: 'weekly' } },
      });
    expect(variable.status).toBe(400);
    expect(variable.body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    expect(variable.body.errors[0].message).toMatch(/BackupType/);

    const badTime = await gql('{ auditTrail(from: "last tuesday") { total } }', {}, 400);
    expect(badTime.errors?.[0]).toMatchObject({
      message: expect.stringContaining('DateTime must be an ISO-8601 date-time'),
      extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
    });
  });

  it('answers times as ISO-8601 strings and byte counts as decimal strings', async () => {
    const iso = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
    const registered = await gql('mutation($input: RegisterSourceInput!) { registerSource(input: $input) { id } }', {
      input: { name: 'timed', path: source },
    });
    const sourceId = registered.data?.registerSource.id as string;
    const requested = await gql('mutation { requestBackup(input: {sourceId: "' + sourceId + '", type: full}) { id type } }');
    expect(requested.data?.requestBackup.type).toBe('full');
    const backupId = requested.data?.requestBackup.id as string;
    const backup = await eventually(async () => {
      const { data } = await gql('query($id: ID!) { backup(id: $id) { status requestedAt startedAt finishedAt verification { at } } }', {
        id: backupId,
      });
      expect(data?.backup).toMatchObject({ status: 'completed', requestedAt: expect.any(String) });
      return data?.backup;
    });
    for (const time of [backup.requestedAt, backup.startedAt, backup.finishedAt]) {
      expect(time).toMatch(iso);
      expect(new Date(time as string).toISOString()).toBe(time);
    }
    expect(backup.verification.at).toBeNull();

    const sources = await gql('{ sources { id registeredAt updatedAt } }');
    const listed = (sources.data?.sources as { id: string; registeredAt: string; updatedAt: string }[]).find((s) => s.id === sourceId);
    expect(listed?.registeredAt).toMatch(iso);
    expect(listed?.updatedAt).toMatch(iso);

    // The filter takes a DateTime with any offset; the backup was requested after 2000.
    const since = await gql('query($from: DateTime) { backups(sourceId: "' + sourceId + '", from: $from) { total } }', {
      from: '2000-01-01T01:00:00+01:00',
    });
    expect(since.data?.backups.total).toBe(1);

    const target = path.join(service.config.restoreRoots[0], 'timed');
    const restore = await gql('mutation($input: RequestRestoreInput!) { requestRestore(input: $input) { id } }', {
      input: { backupId, target },
    });
    const restored = await eventually(async () => {
      const { data } = await gql('query($id: ID!) { restore(id: $id) { status bytes requestedAt startedAt finishedAt } }', {
        id: restore.data?.requestRestore.id,
      });
      expect(data?.restore.status).toBe('completed');
      return data?.restore;
    });
    expect(restored.bytes).toBe('23');
    for (const time of [restored.requestedAt, restored.startedAt, restored.finishedAt]) expect(time).toMatch(iso);
  });

  it('answers bad input with the REST error codes, never a stack trace', async () => {
    const invalid = await gql('mutation { requestBackup(input: {sourceId: "not-a-uuid"}) { id } }');
    expect(invalid.errors?.[0]).toMatchObject({
      message: expect.stringContaining('sourceId must be a UUID'),
      extensions: { code: 'VALIDATION_FAILED' },
    });

    const unknown = await gql('query { backup(id: "00000000-0000-4000-8000-000000000000") { id } }');
    expect(unknown.errors?.[0].extensions.code).toBe('NOT_FOUND');

    const outside = await gql('mutation($input: RequestRestoreInput!) { requestRestore(input: $input) { id } }', {
      input: { backupId: '00000000-0000-4000-8000-000000000000', target: '/etc/custodia-never' },
    });
    expect(outside.errors?.[0]).toMatchObject({ message: expect.stringContaining('RESTORE_ROOTS'), extensions: { code: 'INVALID_INPUT' } });

    const badQuery = await gql('{ backups { nope } }', {}, 400);
    expect(badQuery.errors?.[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
    for (const answer of [invalid, unknown, outside, badQuery]) expect(JSON.stringify(answer)).not.toMatch(/stacktrace|\s+at /);
  });
});
