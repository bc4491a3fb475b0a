import { promises as fs } from 'node:fs';
import { AddressInfo, createServer } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { newApiToken } from '../../src/infrastructure/http/api-tokens';
import { CliResult, runCli } from '../support/cli';
import { snapshotTree, startApp, TestApp } from './embedded-app';

/**
 * `custodia api ...` against a service listening on a real port, with tokens: the shell runs the
 * same commands as REST (events, audit entries, jobs), and its errors are one line with the
 * service's code.
 */
describe('custodia api (the command line as a client of the service)', () => {
  let service: TestApp;
  let source: string;
  let url: string;
  let tokensFile: string;
  const operator = newApiToken('operator:olga', 'operator');
  const dpo = newApiToken('dpo:jane', 'dpo');

  const api = (args: string[], token: string | null = operator.token): Promise<CliResult> =>
    runCli(['api', '--url', url, ...args], { passphrase: null, env: token ? { CUSTODIA_TOKEN: token } : {} });
  const answer = <T>(result: CliResult): T => {
    expect(result).toMatchObject({ code: 0, stderr: '' });
    return JSON.parse(result.stdout) as T;
  };

  beforeAll(async () => {
    source = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-cli-api-'));
    await fs.mkdir(path.join(source, 'customers', 'c-2002'), { recursive: true });
    await fs.writeFile(path.join(source, 'customers', 'c-2002', 'invoice.txt'), 'invoice of c-2002\n');
    await fs.writeFile(path.join(source, 'price-list.txt'), 'prices\n');
    tokensFile = `${source}.tokens`; // outside the backed-up folder, and kept: the service re-reads it
    await fs.writeFile(tokensFile, `${operator.line}\n${dpo.line}\n`, { mode: 0o600 });
    // With tokens, SOURCE_ROOTS is required: the test's source folder is the one allowed.
    service = await startApp({ RESTORE_TEST_INTERVAL_DAYS: '0', CUSTODIA_API_TOKENS_FILE: tokensFile, SOURCE_ROOTS: source });
    await service.app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(service.app.getHttpServer().address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await service.close();
    await fs.rm(source, { recursive: true, force: true });
    await fs.rm(tokensFile, { force: true });
    await fs.rm(service.dataDir, { recursive: true, force: true });
  });

  it('registers a source, backs it up, restores it, erases a subject, and reads the audit trail', async () => {
    const added = answer<{ id: string; subjectRules: string[] }>(
      await api(['sources', 'add', '--name', 'shop', '--path', source, '--subject-rule', 'customers/{subject}/**', '--purpose', 'orders']),
    );
    expect(added.subjectRules).toEqual(['customers/{subject}/**']);

    const backup = answer<{ id: string; status: string; snapshotId: string }>(
      await api(['backups', 'request', '--source', added.id, '--type', 'full', '--wait', '--timeout', '60']),
    );
    expect(backup.status).toBe('completed');
    expect(answer<{ items: { id: string }[] }>(await api(['backups', 'list', '--source', added.id])).items.map((item) => item.id)).toEqual([
      backup.id,
    ]);

    const target = path.join(service.config.restoreRoots[0], 'cli-api');
    const restored = answer<{ status: string }>(await api(['restores', 'request', '--backup', backup.id, '--target', target, '--wait']));
    expect(restored.status).toBe('completed');
    expect(await snapshotTree(target)).toEqual(await snapshotTree(source));

    // The DPO keeps the token in a file (--token-file) rather than in the environment.
    const tokenFile = path.join(service.dataDir, 'dpo.token');
    await fs.writeFile(tokenFile, `${dpo.token}\n`, { mode: 0o600 });
    // ... and gives the subject's id on standard input, out of the shell history.
    const erasure = ['subjects', 'erase', '--subject', '-', '--legal-basis', 'Art. 17(1)(a)', '--requested-by', 'data-subject', '--wait'];
    const erased = answer<{ status: string; subject: string }>(
      await runCli(['api', '--url', url, '--token-file', tokenFile, ...erasure], { passphrase: null, stdin: 'c-2002\n' }),
    );
    expect(erased.status).toBe('completed');
    expect(erased.subject).toMatch(/^[0-9a-f]{64}$/);

    const trail = answer<{ items: { action: string; actor: string; role: string }[] }>(
      await api(['audit', 'list', '--actor', 'operator:olga', '--limit', '100'], dpo.token),
    );
    expect(trail.items.map((entry) => `${entry.action} ${entry.actor} ${entry.role}`)).toEqual(
      expect.arrayContaining([
        'source.registered operator:olga operator',
        'backup.requested operator:olga operator',
        'restore.requested operator:olga operator',
      ]),
    );
    expect(new Set(trail.items.map((entry) => entry.actor))).toEqual(new Set(['operator:olga']));
    expect(answer<{ valid: boolean }>(await api(['audit', 'verify'], dpo.token)).valid).toBe(true);
  });

  it('prints the service’s error code in one line, and exits non-zero', async () => {
    const anonymous = await api(['backups', 'list'], null);
    expect(anonymous).toMatchObject({ code: 1, stdout: '' });
    expect(anonymous.stderr).toBe('custodia: error [UNAUTHENTICATED]: this API needs "Authorization: Bearer <token>"\n');

    const forbidden = await api(['audit', 'verify']);
    expect(forbidden.stderr).toBe('custodia: error [FORBIDDEN]: the role operator may not do this (it needs audit:read)\n');

    const invalid = await api(['backups', 'request', '--source', 'not-an-id']);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/^custodia: error \[VALIDATION_FAILED\]: sourceId must be a UUID\n$/);

    const closed = await closedPort();
    const unreachable = await runCli(['api', '--url', `http://127.0.0.1:${closed}`, 'backups', 'list'], { passphrase: null });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(
      /^custodia: error \[SERVICE_UNREACHABLE\]: no answer from http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/,
    );

    const badUrl = await runCli(['api', '--url', 'ftp://example', 'backups', 'list'], { passphrase: null });
    expect(badUrl).toMatchObject({
      code: 2,
      stderr: 'custodia: error [INVALID_ARGUMENT]: the service URL must be http(s)://host[:port], got "ftp://example"\n',
    });
  });
});

/** A port nothing listens on: one the kernel just gave out and got back. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
