import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EventStore } from '../../src/application/ports/event-store';
import { EVENT_STORE } from '../../src/application/tokens';
import { newApiToken } from '../../src/infrastructure/http/api-tokens';
import { CapturingLogger, eventually, startApp, TestApp, waitForStatus } from './embedded-app';

/** Leaves a Unix socket file at `file` (the process that bound it exits): reason `socket`. */
function makeSocket(file: string): void {
  execFileSync('python3', ['-c', 'import socket,sys;s=socket.socket(socket.AF_UNIX);s.bind(sys.argv[1])', file]);
}

/**
 * What a backup skipped is never silent: counted by reason in BackupCompleted and the catalog
 * (no paths), and listed with paths by the audited GET /backups/:id/errors, for operators and
 * DPOs only; an erased data subject's paths stay sealed.
 */
describe('a backup’s problems: counted in events, listed by GET /backups/:id/errors', () => {
  let service: TestApp;
  let source: string;
  let otherRoot: string;
  let tokensFile: string;
  const logger = new CapturingLogger();
  const tokens = {
    operator: newApiToken('operator:olga', 'operator'),
    dpo: newApiToken('dpo:jane', 'dpo'),
    auditor: newApiToken('auditor:kim', 'auditor'),
  };
  type Role = keyof typeof tokens;
  const get = (role: Role, url: string) => service.http().get(url).set('Authorization', `Bearer ${tokens[role].token}`);
  const post = (role: Role, url: string, body: object) =>
    service.http().post(url).set('Authorization', `Bearer ${tokens[role].token}`).send(body);
  const settled = (role: Role, url: string) =>
    waitForStatus(() => ({ get: (u: string) => get(role, u) }) as unknown as ReturnType<TestApp['http']>, url);
  const events = () => service.app.get<EventStore>(EVENT_STORE).readAll(0, 100_000);
  let backupId: string;

  beforeAll(async () => {
    source = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-problems-'));
    otherRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-problems-other-'));
    for (const subject of ['c-1001', 'c-2002']) {
      await fs.mkdir(path.join(source, 'customers', subject), { recursive: true });
      await fs.writeFile(path.join(source, 'customers', subject, 'contract.txt'), `contract of ${subject}\n`);
      makeSocket(path.join(source, 'customers', subject, `sock-${subject}`));
    }
    await fs.writeFile(path.join(source, 'handbook.txt'), 'staff handbook\n');
    makeSocket(path.join(source, 'sock-top'));
    tokensFile = path.join(os.tmpdir(), `${path.basename(source)}.tokens`);
    await fs.writeFile(
      tokensFile,
      Object.values(tokens)
        .map((entry) => `${entry.line}\n`)
        .join(''),
      { mode: 0o600 },
    );
    service = await startApp(
      { RESTORE_TEST_INTERVAL_DAYS: '0', CUSTODIA_API_TOKENS_FILE: tokensFile, SOURCE_ROOTS: `${source}:${otherRoot}` },
      undefined,
      logger,
    );
    const { body: created } = await post('operator', '/sources', {
      name: 'crm',
      path: source,
      subjectRules: ['customers/{subject}/**'],
    }).expect(201);
    const { body: backup } = await post('operator', '/backups', { sourceId: created.id, type: 'full' }).expect(202);
    backupId = backup.id;
    expect((await settled('operator', `/backups/${backupId}`)).status).toBe('completed');
  });

  afterAll(async () => {
    await service.close();
    for (const dir of [source, otherRoot, service.dataDir, tokensFile]) await fs.rm(dir, { recursive: true, force: true });
  });

  it('counts the problems by reason in BackupCompleted, the catalog and GraphQL, with no path anywhere in the log', async () => {
    const { body: backup } = await get('auditor', `/backups/${backupId}`).expect(200);
    expect(backup.statistics).toMatchObject({ errors: 0, problems: { socket: 3 } });

    const completed = (await events()).find((event) => event.type === 'BackupCompleted');
    expect((completed?.data as { statistics: object }).statistics).toMatchObject({ errors: 0, problems: { socket: 3 } });
    const log = JSON.stringify(await events());
    expect(log).not.toContain('sock-');

    const query = `{ backup(id: "${backupId}") { statistics { errors problems { socket unreadable } } } }`;
    const { body: graphql } = await post('auditor', '/graphql', { query }).expect(200);
    expect(graphql.data.backup.statistics).toEqual({ errors: 0, problems: { socket: 3, unreadable: null } });
  });

  it('lists them for an operator and a DPO, audits each read, and refuses an auditor with 403', async () => {
    const before = (await events()).length;
    const { body: refused } = await get('auditor', `/backups/${backupId}/errors`).expect(403);
    expect(refused).toMatchObject({ code: 'FORBIDDEN', message: expect.stringContaining('backups:errors:read') });
    expect((await events()).length).toBe(before);

    const { body: listed } = await get('dpo', `/backups/${backupId}/errors`).expect(200);
    expect(listed).toMatchObject({ backupId, snapshotId: expect.stringMatching(/^[0-9a-f]{64}$/), counts: { socket: 3 }, total: 3 });
    expect(listed.items).toEqual(
      expect.arrayContaining([
        { reason: 'socket', path: 'sock-top', message: expect.any(String), subject: null, sealed: null },
        {
          reason: 'socket',
          path: 'customers/c-1001/sock-c-1001',
          message: expect.any(String),
          subject: expect.stringMatching(/^[A-Za-z0-9_-]+$/),
          sealed: null,
        },
      ]),
    );
    const { body: page } = await get('operator', `/backups/${backupId}/errors?limit=1&offset=1&reason=socket`).expect(200);
    expect(page).toMatchObject({ total: 3, limit: 1, offset: 1, items: [listed.items[1]] });
    const { body: none } = await get('operator', `/backups/${backupId}/errors?reason=unreadable`).expect(200);
    expect(none).toMatchObject({ total: 0, items: [], counts: { socket: 3 } });
    // Bad input is refused before anything is recorded.
    await get('operator', `/backups/${backupId}/errors?reason=nonsense`).expect(400);

    // Each read is in the audit trail: who read which backup's list, never the paths.
    const trail = await eventually(async () => {
      const { body } = await get('dpo', '/audit?limit=500').expect(200);
      const reads = body.items.filter((entry: { action: string }) => entry.action === 'backup.problems-read');
      expect(reads).toHaveLength(3);
      return reads as { actor: string; role: string; target: { id: string } | undefined; details: unknown }[];
    });
    expect(trail.map((entry) => entry.actor)).toEqual(['dpo:jane', 'operator:olga', 'operator:olga']);
    expect(JSON.stringify(trail)).toContain(backupId);
    expect(JSON.stringify(trail)).not.toContain('sock-');
  });

  it('answers 404 for an unknown backup and 409 NO_SNAPSHOT for one without a snapshot, recording nothing', async () => {
    const before = (await events()).length;
    const { body: unknown } = await get('dpo', '/backups/00000000-0000-4000-8000-000000000000/errors').expect(404);
    expect(unknown.code).toBe('NOT_FOUND');
    expect((await events()).length).toBe(before);

    const gone = path.join(otherRoot, 'gone');
    await fs.mkdir(gone);
    const { body: created } = await post('operator', '/sources', { name: 'gone', path: gone }).expect(201);
    await fs.rm(gone, { recursive: true });
    const { body: failing } = await post('operator', '/backups', { sourceId: created.id, type: 'full' }).expect(202);
    expect((await settled('operator', `/backups/${failing.id}`)).status).toBe('failed');
    const count = (await events()).length;
    const { body: conflict } = await get('dpo', `/backups/${failing.id}/errors`).expect(409);
    expect(conflict).toMatchObject({ code: 'NO_SNAPSHOT', message: expect.stringContaining('failed') });
    expect((await events()).length).toBe(count);
  });

  it('shows an erased data subject’s problems by reason and pseudonym only, and never logged a path', async () => {
    const { body: erasure } = await post('dpo', '/erasures', {
      subjectId: 'c-1001',
      legalBasis: 'Art. 17(1)(a)',
      requestedBy: 'data-subject',
    }).expect(202);
    expect((await settled('dpo', `/erasures/${erasure.id}`)).status).toBe('completed');

    const response = await get('operator', `/backups/${backupId}/errors`).expect(200);
    expect(response.text).not.toContain('sock-c-1001');
    expect(response.text).not.toContain('c-1001');
    expect(response.body.items).toEqual(
      expect.arrayContaining([
        { reason: 'socket', path: null, message: null, subject: erasure.subject, sealed: 'erased' },
        expect.objectContaining({ path: 'customers/c-2002/sock-c-2002', sealed: null }),
        expect.objectContaining({ path: 'sock-top', sealed: null }),
      ]),
    );
    expect(response.body.total).toBe(3);
    expect(logger.lines.join('\n')).not.toContain('sock-');
  });
});
