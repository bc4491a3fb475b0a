import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { escapeIdentifier } from 'pg';
import { MasterKey } from '../../src/engine/crypto/master-key';
import { loadConfiguration } from '../../src/infrastructure/config/configuration';
import { PostgresKeyVault } from '../../src/infrastructure/persistence/postgres-key-vault';
import { attachKeyVault } from '../../src/infrastructure/repository/key-vault.factory';
import { keyVaultContract } from '../contract/key-vault.contract';
import { hmacPseudonymiser } from '../../src/engine';
import { expectCliError, runCli, runCliOk } from '../support/cli';
import { initRepository } from '../support/repository';
import { dir, file, writeTree } from '../support/tree';
import { listRelative, useTempDirs } from '../support/temp-dirs';
import { dropSchema, postgresConnection, uniqueSchema, withClient } from './support/postgres';

const schema = uniqueSchema('key_vault');
const table = `${escapeIdentifier(schema)}.subject_keys`;
const master = MasterKey.generate();
const opened: PostgresKeyVault[] = [];

/** A vault on the test's schema with a pool of its own, as another process would have. */
async function openVault(key = master): Promise<PostgresKeyVault> {
  const vault = await PostgresKeyVault.open(key, { connection: postgresConnection(), schema });
  opened.push(vault);
  return vault;
}

afterAll(async () => {
  for (const vault of opened.splice(0)) await vault.close();
  await dropSchema(schema);
});

const pseudonym = () => randomBytes(32).toString('hex');

keyVaultContract('PostgresKeyVault', () => openVault());

describe('PostgresKeyVault', () => {
  it('gives concurrent callers in different processes one and the same key', async () => {
    const [a, b] = await Promise.all([openVault(), openVault()]);
    const subject = pseudonym();
    const keys = await Promise.all(Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? a : b).getOrCreate(subject)));
    expect(new Set(keys.map((key) => key.keyId)).size).toBe(1);
    expect(keys.every((key) => key.key.equals(keys[0].key))).toBe(true);
    const rows = await withClient((client) => client.query(`SELECT key_id FROM ${table} WHERE pseudonym = $1`, [subject]));
    expect(rows.rows).toEqual([{ key_id: keys[0].keyId }]);
  });

  it('stores the key wrapped, and after a shred the row holds no key at all', async () => {
    const vault = await openVault();
    const subject = pseudonym();
    const { keyId, key } = await vault.getOrCreate(subject);
    const row = async () =>
      (
        await withClient((client) =>
          client.query<{ wrapped: Buffer | null; shredded_at: Date | null }>(
            `SELECT wrapped, shredded_at FROM ${table} WHERE pseudonym = $1 AND key_id = $2`,
            [subject, keyId],
          ),
        )
      ).rows[0];
    const before = await row();
    expect(before.wrapped).toBeInstanceOf(Buffer);
    expect(before.wrapped!.includes(key)).toBe(false);
    expect(before.shredded_at).toBeNull();

    expect(await vault.shred(subject)).toEqual({ keysShredded: 1, status: 'shredded' });
    expect(await row()).toEqual({ wrapped: null, shredded_at: expect.any(Date) });
    // Another process sees the shred at once.
    expect(await (await openVault()).get(subject, keyId)).toBeNull();
  });

  it('reports a modified or misplaced wrapped key as REPO_DAMAGED, naming the key but not revealing it', async () => {
    const vault = await openVault();
    const [subject, other] = [pseudonym(), pseudonym()];
    const { keyId, key } = await vault.getOrCreate(subject);
    await withClient((client) =>
      client.query(`UPDATE ${table} SET wrapped = set_byte(wrapped, 40, get_byte(wrapped, 40) # 255) WHERE key_id = $1`, [keyId]),
    );
    const failure = await vault.get(subject).then(
      () => null,
      (error: unknown) => error as Error & { code?: string },
    );
    expect(failure).toMatchObject({ code: 'REPO_DAMAGED' });
    expect(failure!.message).toContain(subject);
    expect(failure!.message).toContain(keyId);
    expect(failure!.message).not.toContain(key.toString('hex'));
    await expect(vault.getOrCreate(subject)).rejects.toMatchObject({ code: 'REPO_DAMAGED' });

    // An intact wrapped key copied to another subject does not open either (its associated data names the subject).
    const intact = await vault.getOrCreate(pseudonym());
    await withClient((client) =>
      client.query(`INSERT INTO ${table} (pseudonym, key_id, wrapped) SELECT $1, key_id, wrapped FROM ${table} WHERE key_id = $2`, [
        other,
        intact.keyId,
      ]),
    );
    await expect(vault.get(other, intact.keyId)).rejects.toMatchObject({ code: 'REPO_DAMAGED' });
  });

  it("does not open keys wrapped under another repository's master key", async () => {
    const subject = pseudonym();
    await (await openVault()).getOrCreate(subject);
    await expect((await openVault(MasterKey.generate())).get(subject)).rejects.toMatchObject({ code: 'REPO_DAMAGED' });
  });
});

describe('attachKeyVault', () => {
  const tempDir = useTempDirs();
  const connection = postgresConnection();
  const env = (keyVault: string) => ({
    DATA_DIR: '/tmp/custodia-key-vault-test',
    EVENT_STORE: 'postgres',
    DATABASE_URL: `postgres://${connection.user}@${connection.host}:${connection.port}/${connection.database}`,
    PG_SCHEMA: schema,
    KEY_VAULT: keyVault,
    SOURCE_ROOTS: '/srv',
  });

  it('KEY_VAULT defaults to postgres with the PostgreSQL event store, to repository otherwise, and refuses other values', () => {
    expect(loadConfiguration(env('')).keyVault).toBe('postgres');
    expect(loadConfiguration({ DATA_DIR: '/tmp/custodia-key-vault-test' }).keyVault).toBe('repository');
    expect(() => loadConfiguration(env('kms'))).toThrow('KEY_VAULT must be one of repository, postgres, got "kms"');
  });

  it("puts the repository's subject keys in PostgreSQL with KEY_VAULT=postgres", async () => {
    const repository = await initRepository(path.join(await tempDir('attach'), 'repo'));
    const vault = await attachKeyVault(loadConfiguration(env('postgres')), repository);
    try {
      expect(vault).toBeInstanceOf(PostgresKeyVault);
      expect(repository.keyVault).toBe(vault);
      const subject = pseudonym();
      const { keyId } = await repository.keyVault.getOrCreate(subject);
      expect(await (await openVault(repository.master)).status(subject, keyId)).toBe('active');
      expect(await repository.store.list('subject-keys/')).toEqual([]);
    } finally {
      await vault?.close();
    }
  });

  it('leaves the embedded vault with KEY_VAULT=repository, and refuses postgres for a repository already holding keys', async () => {
    const repository = await initRepository(path.join(await tempDir('refuse'), 'repo'));
    const embedded = repository.keyVault;
    expect(await attachKeyVault(loadConfiguration(env('repository')), repository)).toBeNull();
    expect(repository.keyVault).toBe(embedded);
    await embedded.getOrCreate(pseudonym());
    await expect(attachKeyVault(loadConfiguration(env('postgres')), repository)).rejects.toThrow('keeps 1 subject key(s) in itself');
    expect(repository.keyVault).toBe(embedded);
  });
});

describe('the command line with KEY_VAULT=postgres', () => {
  const tempDir = useTempDirs();
  const SECRET = 'pseudonym secret of the CLI vault test';

  it('backs up, erases and restores with the subject keys in PostgreSQL', async () => {
    const pg = postgresConnection();
    const env = {
      CUSTODIA_PSEUDONYM_SECRET: SECRET,
      KEY_VAULT: 'postgres',
      DATABASE_URL: `postgres://${pg.user}@${pg.host}:${pg.port}/${pg.database}`,
      PG_SCHEMA: schema,
    };
    const work = await tempDir('cli-vault');
    const source = path.join(work, 'source');
    const repo = path.join(work, 'repo');
    await writeTree(source, {
      customers: dir({
        'alice@example.com': dir({ 'profile.txt': file('Alice\n') }),
        'bob@example.com': dir({ 'profile.txt': file('Bob\n') }),
      }),
    });
    await runCliOk(['repo', 'init', '--repo', repo, '--kdf-n', '1024']);
    await runCliOk(['backup', source, '--repo', repo, '--subject-rule', 'customers/{subject}/**'], { env });

    const alice = hmacPseudonymiser(SECRET)('alice@example.com');
    const rows = () =>
      withClient(
        async (client) =>
          (await client.query<{ pseudonym: string; wrapped: Buffer | null }>(`SELECT pseudonym, wrapped FROM ${table}`)).rows,
      );
    expect((await rows()).filter((row) => row.wrapped !== null).map((row) => row.pseudonym)).toEqual(expect.arrayContaining([alice]));
    // Nothing of the subjects' keys is in the repository itself.
    expect(await listRelative(repo)).not.toEqual(expect.arrayContaining([expect.stringMatching(/^subject-keys\//)]));

    await runCliOk(['subject', 'shred', 'alice@example.com', '--repo', repo], { env });
    expect((await rows()).find((row) => row.pseudonym === alice)?.wrapped).toBeNull();

    const target = path.join(work, 'restored');
    const restored = await runCliOk(['restore', 'latest', '--repo', repo, '--target', target, '--json'], { env });
    const summary = restored.stdout.trim().split('\n').at(-1) ?? '';
    expect(JSON.parse(summary)).toMatchObject({ message_type: 'summary', files: 1, skippedErased: { files: 1 } });
    expect(await listRelative(target)).not.toEqual(expect.arrayContaining([expect.stringContaining('alice')]));

    // Without the vault setting the repository's own (empty) vault is used: the keys are not there.
    const withoutVault = await runCli(['restore', 'latest', '--repo', repo, '--target', path.join(work, 'restored-2'), '--json'], {
      env: { CUSTODIA_PSEUDONYM_SECRET: SECRET },
    });
    expect(withoutVault.code).not.toBe(0);
    const badSetting = await runCli(['snapshots', '--repo', repo], { env: { KEY_VAULT: 'kms' } });
    expectCliError(badSetting, 'CONFIGURATION', 2);
  });
});
