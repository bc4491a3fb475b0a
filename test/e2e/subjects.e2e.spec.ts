import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { TestApp } from './embedded-app';
import { gdprScenario } from './gdpr-scenario';

const MAIN = path.resolve(__dirname, '../../dist/main.js');

/** The GDPR scenario on the embedded defaults: SQLite event store and read models, keys in the repository. */
gdprScenario(
  {
    label: 'embedded SQLite',
    env: async () => ({}),
    keyVault: 'repository',
    storedData: async (service: TestApp) => {
      // The databases with their write-ahead logs: rows may still be in the -wal file.
      const stores = (await fs.readdir(service.dataDir)).filter((name) => /^(events|readmodel)\.db/.test(name));
      expect(stores).toEqual(expect.arrayContaining(['events.db', 'readmodel.db']));
      return Promise.all(
        stores.map(async (name): Promise<[string, Buffer]> => [name, await fs.readFile(path.join(service.dataDir, name))]),
      );
    },
  },
  (current) => {
    it('refuses to start with a pseudonymisation secret other than the one the repository was set up with', async () => {
      const started = spawnSync(process.execPath, [MAIN], {
        env: {
          ...process.env,
          DATA_DIR: current().dataDir,
          PORT: '0',
          CUSTODIA_PASSPHRASE: 'e2e-passphrase',
          CUSTODIA_PSEUDONYM_SECRET: 'a-different-secret-of-enough-length',
        },
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(started.status).toBe(1);
      expect(started.stderr).toMatch(/custodia: error \[PSEUDONYM_SECRET_MISSING\]: CUSTODIA_PSEUDONYM_SECRET is not the secret/);
      expect(started.stderr).not.toContain('    at ');
    });

    it('refuses to start in the distributed mode without a pseudonymisation secret', async () => {
      const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: current().dataDir, PORT: '0', BUS: 'kafka', KAFKA_BROKERS: '127.0.0.1:1' };
      delete env.CUSTODIA_PSEUDONYM_SECRET;
      const started = spawnSync(process.execPath, [MAIN], { env, encoding: 'utf8', timeout: 30_000 });
      expect(started.status).toBe(2); // a configuration error
      expect(started.stderr.trim().split('\n')).toHaveLength(1);
      expect(started.stderr).toContain('CUSTODIA_PSEUDONYM_SECRET');
      expect(started.stderr).not.toContain('    at ');
    });
  },
);
