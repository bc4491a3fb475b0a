import { spawn, spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { createServer } from 'node:net';
import * as path from 'node:path';
import { ConfigurationError, loadConfiguration } from '../../src/infrastructure/config/configuration';
import { newApiToken } from '../../src/infrastructure/http/api-tokens';
import { runCli } from '../support/cli';
import { useTempDirs } from '../support/temp-dirs';

const MAIN = path.resolve(__dirname, '../../dist/main.js');
/** A uid that is not the test's (tests run as root in CI: root may chown a file to it). */
const OTHER_UID = 65534;
const mode = async (file: string) => (await fs.stat(file)).mode & 0o777;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * Files that hold keys, secrets or tokens must be the service user's own and closed to others;
 * the service refuses to start otherwise, and creates what it keeps 0600 in a 0700 DATA_DIR.
 */
describe('file permissions', () => {
  const tempDir = useTempDirs();

  describe('refusals at start', () => {
    it('refuses a tokens file writable by group or others, naming it and the fix', async () => {
      const dir = await tempDir('perm-tokens');
      const file = path.join(dir, 'tokens');
      await fs.writeFile(file, `${newApiToken('operator:olga', 'operator').line}\n`, { mode: 0o600 });
      const env = { DATA_DIR: path.join(dir, 'data'), CUSTODIA_API_TOKENS_FILE: file, SOURCE_ROOTS: '/srv' };
      expect(loadConfiguration(env).apiTokens?.size).toBe(1);
      // Readable by others is fine for a file of digests; writable is not: anyone could add a token.
      await fs.chmod(file, 0o644);
      expect(loadConfiguration(env).apiTokens?.size).toBe(1);
      for (const loose of [0o620, 0o602, 0o666]) {
        await fs.chmod(file, loose);
        expect(() => loadConfiguration(env)).toThrow(
          new ConfigurationError(
            `CUSTODIA_API_TOKENS_FILE: ${file} is writable by group or others: check its content, then chmod 600 ${file}`,
          ),
        );
      }
    });

    it("refuses a tokens file that is not the service user's own", async () => {
      const dir = await tempDir('perm-owner');
      const file = path.join(dir, 'tokens');
      await fs.writeFile(file, `${newApiToken('operator:olga', 'operator').line}\n`, { mode: 0o600 });
      await fs.chown(file, OTHER_UID, OTHER_UID);
      const uid = process.getuid?.();
      expect(() => loadConfiguration({ DATA_DIR: path.join(dir, 'data'), CUSTODIA_API_TOKENS_FILE: file, SOURCE_ROOTS: '/srv' })).toThrow(
        `CUSTODIA_API_TOKENS_FILE: ${file} is owned by uid ${OTHER_UID}, not by the service's user (uid ${uid}): chown ${uid} ${file} && chmod 600 ${file}`,
      );
    });

    it.each([['repository.key'], ['pseudonym.secret']])(
      'refuses %s in DATA_DIR when group or others may read or write it',
      async (name) => {
        const dataDir = await tempDir('perm-key');
        const file = path.join(dataDir, name);
        await fs.writeFile(file, 'k'.repeat(43), { mode: 0o600 });
        expect(() => loadConfiguration({ DATA_DIR: dataDir })).not.toThrow();
        await fs.chmod(file, 0o640);
        expect(() => loadConfiguration({ DATA_DIR: dataDir })).toThrow(`${file} is readable by group or others: chmod 600 ${file}`);
        await fs.chmod(file, 0o660);
        expect(() => loadConfiguration({ DATA_DIR: dataDir })).toThrow(`${file} is writable by group or others`);
        await fs.chmod(file, 0o600);
        await fs.chown(file, OTHER_UID, OTHER_UID);
        expect(() => loadConfiguration({ DATA_DIR: dataDir })).toThrow(`${file} is owned by uid ${OTHER_UID}`);
      },
    );

    it('stops `node dist/main.js` with one line naming a 0666 tokens file and the fix', async () => {
      const dir = await tempDir('perm-main');
      const file = path.join(dir, 'tokens');
      await fs.writeFile(file, `${newApiToken('operator:olga', 'operator').line}\n`);
      await fs.chmod(file, 0o666);
      const started = spawnSync(process.execPath, [MAIN], {
        env: { ...process.env, DATA_DIR: path.join(dir, 'data'), PORT: '0', CUSTODIA_API_TOKENS_FILE: file, SOURCE_ROOTS: dir },
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(started.status).toBe(2);
      expect(started.stderr).toBe(
        `custodia: error [CONFIGURATION]: CUSTODIA_API_TOKENS_FILE: ${file} is writable by group or others: check its content, then chmod 600 ${file}\n`,
      );
    });

    it('stops the start without SOURCE_ROOTS when API tokens are in use, naming the setting', async () => {
      const dir = await tempDir('perm-roots');
      const file = path.join(dir, 'tokens');
      await fs.writeFile(file, `${newApiToken('operator:olga', 'operator').line}\n`, { mode: 0o600 });
      const started = spawnSync(process.execPath, [MAIN], {
        env: { ...process.env, DATA_DIR: path.join(dir, 'data'), PORT: '0', CUSTODIA_API_TOKENS_FILE: file, SOURCE_ROOTS: '' },
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(started.status).toBe(2);
      expect(started.stderr).toBe(
        'custodia: error [CONFIGURATION]: SOURCE_ROOTS must list the folders sources may be in (colon-separated absolute paths) with CUSTODIA_API_TOKENS_FILE\n',
      );
    });
  });

  describe('custodia token create', () => {
    it('creates the tokens file 0600, and tightens one that others may only read', async () => {
      const dir = await tempDir('perm-token-create');
      const created = path.join(dir, 'new-tokens');
      expect((await runCli(['token', 'create', '--actor', 'dpo:jane', '--role', 'dpo', '--file', created])).code).toBe(0);
      expect(await mode(created)).toBe(0o600);
      const readable = path.join(dir, 'readable-tokens');
      await fs.writeFile(readable, '');
      await fs.chmod(readable, 0o644);
      expect((await runCli(['token', 'create', '--actor', 'dpo:jane', '--role', 'dpo', '--file', readable])).code).toBe(0);
      expect(await mode(readable)).toBe(0o600);
      expect(await fs.readFile(readable, 'utf8')).toMatch(/^dpo:jane dpo sha256:[0-9a-f]{64}\n$/);
    });

    it('refuses a tokens file others may write (0666), adding nothing and leaving it for its owner to check', async () => {
      const dir = await tempDir('perm-token-refuse');
      const file = path.join(dir, 'tokens');
      const slipped = `${newApiToken('operator:mallory', 'operator').line}\n`;
      await fs.writeFile(file, slipped);
      await fs.chmod(file, 0o666);
      const result = await runCli(['token', 'create', '--actor', 'dpo:jane', '--role', 'dpo', '--file', file]);
      expect(result).toMatchObject({ code: 2, stdout: '' });
      expect(result.stderr).toBe(
        `custodia: error [CONFIGURATION]: ${file} is writable by group or others: check its content, then chmod 600 ${file}\n`,
      );
      expect(await fs.readFile(file, 'utf8')).toBe(slipped);
    });
  });

  describe('what the embedded service creates', () => {
    it('keeps every file in DATA_DIR 0600 and every folder 0700, tightening a DATA_DIR others could enter', async () => {
      const dataDir = path.join(await tempDir('perm-data'), 'data');
      await fs.mkdir(dataDir);
      await fs.chmod(dataDir, 0o755);
      const source = await tempDir('perm-source');
      await fs.writeFile(path.join(source, 'a.txt'), 'hello\n');
      const port = await freePort();
      // As `npm start` does: no passphrase and no pseudonym secret, so both key files are generated.
      const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, PORT: String(port), CUSTODIA_KDF_N: '1024' };
      delete env.CUSTODIA_PASSPHRASE;
      delete env.CUSTODIA_PSEUDONYM_SECRET;
      delete env.RESTORE_ROOTS;
      const child = spawn(process.execPath, [MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
      const base = `http://127.0.0.1:${port}`;
      try {
        for (;;) {
          if (child.exitCode !== null) throw new Error(`service exited: ${output}`);
          if (
            await fetch(`${base}/health`).then(
              (response) => response.ok,
              () => false,
            )
          )
            break;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        const post = async (url: string, body: unknown) =>
          (
            await fetch(`${base}${url}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
          ).json() as Promise<{ id: string }>;
        const { id: sourceId } = await post('/sources', { name: 'demo', path: source });
        const { id: backupId } = await post('/backups', { sourceId, type: 'full' });
        for (;;) {
          const { status } = (await (await fetch(`${base}/backups/${backupId}`)).json()) as { status: string };
          if (status === 'completed') break;
          if (status === 'failed') throw new Error('the backup failed');
          await new Promise((resolve) => setTimeout(resolve, 100));
        }

        expect(await mode(dataDir)).toBe(0o700);
        expect(output).toContain(`DATA_DIR ${dataDir} was open to group or others (mode 755): changed to 0700`);
        const entries = await fs.readdir(dataDir, { recursive: true, withFileTypes: true });
        const modes: Record<string, string> = {};
        for (const entry of entries) {
          const full = path.join(entry.parentPath, entry.name);
          modes[`${path.relative(dataDir, full)}${entry.isDirectory() ? '/' : ''}`] = (await mode(full)).toString(8);
        }
        // The files the service keeps are all there while it runs, the SQLite -wal and -shm included.
        expect(Object.keys(modes)).toEqual(
          expect.arrayContaining([
            'repository.key',
            'pseudonym.secret',
            'events.db',
            'events.db-wal',
            'events.db-shm',
            'readmodel.db',
            'readmodel.db-wal',
            'readmodel.db-shm',
            'repository/',
            'repository/config',
          ]),
        );
        const expected = Object.fromEntries(Object.keys(modes).map((name) => [name, name.endsWith('/') ? '700' : '600']));
        expect(modes).toEqual(expected);
      } finally {
        child.kill('SIGTERM');
        await exited;
      }
    });
  });
});
