import 'reflect-metadata';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { METHOD_METADATA } from '@nestjs/common/constants';
import { grants, Permission, ROLES } from '../../src/application/access-control';
import { SubjectsController } from '../../src/infrastructure/http/subjects.controller';
import { ConfigurationError, loadConfiguration } from '../../src/infrastructure/config/configuration';
import { CustodiaResolver } from '../../src/infrastructure/graphql/resolvers';
import { API_CONTROLLERS } from '../../src/infrastructure/service.module';
import { ApiTokenFile } from '../../src/infrastructure/http/api-token-file';
import { ApiTokens, newApiToken, tokenDigest } from '../../src/infrastructure/http/api-tokens';
import { runCli } from '../support/cli';

describe('API tokens file', () => {
  const digest = 'sha256:' + 'a'.repeat(64);

  it('admits the token whose SHA-256 it lists, as that actor and role, and nothing else', () => {
    const { token, line } = newApiToken('dpo:jane', 'dpo');
    expect(line).toBe(`dpo:jane dpo sha256:${tokenDigest(token)}`);
    expect(line).not.toContain(token);
    const tokens = ApiTokens.parse(`# who role digest\n\n${line}\n  operator:olga operator ${digest}  \n`, 'tokens');
    expect(tokens.size).toBe(2);
    expect(tokens.authenticate(token)).toEqual({ actor: 'dpo:jane', role: 'dpo' });
    expect(tokens.authenticate(`${token}x`)).toBeNull();
    expect(tokens.authenticate(tokenDigest(token))).toBeNull();
    expect(tokens.authenticate('')).toBeNull();
  });

  it.each([
    ['jane dpo', 'tokens, line 1: expected "<actor> <role> sha256:<hex>"'],
    [`jane dpo ${digest} extra`, 'tokens, line 1: expected "<actor> <role> sha256:<hex>"'],
    [`jane admin ${digest}`, 'tokens, line 1: the role must be one of operator, dpo, auditor'],
    [`jane<script> dpo ${digest}`, 'tokens, line 1: the actor may hold letters, digits and . _ : @ - only'],
    ['jane dpo sha256:ABC', 'tokens, line 1: the digest must be sha256: and 64 lowercase hex digits'],
    [`jane dpo ${digest}\nkim auditor ${digest}`, 'tokens, line 2: this token is listed twice'],
    ['# nobody yet\n', 'tokens lists no token (create one with `custodia token create`)'],
  ])('refuses %j: %s', (text, message) => {
    expect(() => ApiTokens.parse(text, 'tokens')).toThrow(message);
  });
});

describe('API access configuration', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-access-'));
  });
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  it('listens on loopback without tokens, and refuses any other address without them', () => {
    expect(loadConfiguration({ DATA_DIR: dir })).toMatchObject({ host: '127.0.0.1', apiTokens: null });
    expect(loadConfiguration({ DATA_DIR: dir, HOST: '::1' }).host).toBe('::1');
    // A worker serves no API: it needs neither the tokens file nor a loopback HOST.
    expect(
      loadConfiguration({ DATA_DIR: dir, HOST: '0.0.0.0', CUSTODIA_API_TOKENS_FILE: '/nowhere' }, { api: false }).apiTokens,
    ).toBeNull();
    expect(() => loadConfiguration({ DATA_DIR: dir, HOST: '0.0.0.0' })).toThrow(
      new ConfigurationError(
        'HOST=0.0.0.0 opens the API beyond this machine: set CUSTODIA_API_TOKENS_FILE too (see README, Authentication)',
      ),
    );
  });

  it('reads the tokens file at start, and names the line of a bad one without echoing it', async () => {
    const file = path.join(dir, 'tokens');
    await fs.writeFile(file, `${newApiToken('operator:olga', 'operator').line}\n`, { mode: 0o600 });
    const SOURCE_ROOTS = '/srv';
    const config = loadConfiguration({ DATA_DIR: dir, HOST: '0.0.0.0', CUSTODIA_API_TOKENS_FILE: file, SOURCE_ROOTS });
    expect(config.apiTokens?.size).toBe(1);
    await fs.writeFile(file, 'operator:olga root cst_secret-looking-value\n');
    expect(() => loadConfiguration({ DATA_DIR: dir, CUSTODIA_API_TOKENS_FILE: file, SOURCE_ROOTS })).toThrow(
      `CUSTODIA_API_TOKENS_FILE: ${file}, line 1: the role must be one of operator, dpo, auditor`,
    );
    expect(() => loadConfiguration({ DATA_DIR: dir, CUSTODIA_API_TOKENS_FILE: file, SOURCE_ROOTS })).not.toThrow(/cst_secret/);
    expect(() => loadConfiguration({ DATA_DIR: dir, CUSTODIA_API_TOKENS_FILE: path.join(dir, 'missing'), SOURCE_ROOTS })).toThrow(
      `CUSTODIA_API_TOKENS_FILE: cannot read ${path.join(dir, 'missing')} (ENOENT)`,
    );
  });
});

/** Set by @Query and @Mutation (not exported by @nestjs/graphql's entry point). */
const RESOLVER_TYPE_METADATA = 'graphql:resolver_type';

describe('API tokens file, changed while the service runs', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-token-reload-'));
  });
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  it('takes added and revoked tokens at the next call, and admits nobody while the file is broken, empty or gone', async () => {
    const file = path.join(dir, 'tokens');
    const olga = newApiToken('operator:olga', 'operator');
    const jane = newApiToken('dpo:jane', 'dpo');
    await fs.writeFile(file, `${olga.line}\n`);
    const tokens = ApiTokenFile.open(file, 0);
    expect(tokens.authenticate(olga.token)).toEqual({ actor: 'operator:olga', role: 'operator' });
    expect(tokens.authenticate(jane.token)).toBeNull();

    // Olga's token is revoked and Jane's added, by replacing the file (as editors do).
    await fs.writeFile(`${file}.new`, `${jane.line}\n`);
    await fs.rename(`${file}.new`, file);
    expect(tokens.authenticate(olga.token)).toBeNull();
    expect(tokens.authenticate(jane.token)).toEqual({ actor: 'dpo:jane', role: 'dpo' });

    // A broken edit, an emptied file or a removed one admits nobody until it is fixed: the edit
    // may have been meant to revoke a token.
    await fs.writeFile(file, `${jane.line}\nkim superuser sha256:${'0'.repeat(64)}\n`);
    expect(tokens.authenticate(jane.token)).toBeNull();
    await fs.writeFile(file, `${jane.line}\n`);
    expect(tokens.authenticate(jane.token)).toEqual({ actor: 'dpo:jane', role: 'dpo' });
    await fs.writeFile(file, '# nobody\n');
    expect(tokens.authenticate(jane.token)).toBeNull();
    await fs.writeFile(file, `${jane.line}\n`);
    expect(tokens.authenticate(jane.token)).toEqual({ actor: 'dpo:jane', role: 'dpo' });
    await fs.rm(file);
    expect(tokens.authenticate(jane.token)).toBeNull();
  });
});

describe('API permissions', () => {
  /** Handlers: the methods carrying a route (REST) or a Query/Mutation (GraphQL). */
  const handlers = (type: { prototype: object }, isHandler: (method: object) => boolean) =>
    Object.getOwnPropertyNames(type.prototype)
      .map((name) => [name, (type.prototype as Record<string, unknown>)[name]] as const)
      .filter((entry): entry is readonly [string, object] => typeof entry[1] === 'function' && isHandler(entry[1]));

  it('names a permission on every REST and GraphQL operation (a missing one is refused to every token)', () => {
    const unguarded: string[] = [];
    const publicOnes: string[] = [];
    let count = 0;
    for (const controller of API_CONTROLLERS) {
      for (const [name, method] of handlers(controller, (m) => Reflect.getMetadata(METHOD_METADATA, m) !== undefined)) {
        count++;
        const open = Reflect.getMetadata('custodia:public', method) === true;
        if (!Reflect.getMetadata('custodia:requires', method) && !open) unguarded.push(`${controller.name}.${name}`);
        if (open) publicOnes.push(`${controller.name}.${name}`);
      }
    }
    for (const [name, method] of handlers(CustodiaResolver, (m) => Reflect.getMetadata(RESOLVER_TYPE_METADATA, m) !== undefined)) {
      count++;
      if (!Reflect.getMetadata('custodia:requires', method)) unguarded.push(`CustodiaResolver.${name}`);
    }
    expect(count).toBeGreaterThanOrEqual(38);
    expect(unguarded).toEqual([]);
    expect(publicOnes).toEqual(['HealthController.health']);
  });

  it('separates duties: operators run backups, DPOs handle subjects, auditors read', () => {
    const table = Object.fromEntries(
      ROLES.map((role) => [
        role,
        (
          [
            'catalog:read',
            'sources:manage',
            'backups:manage',
            'restores:request',
            'subjects:access',
            'erasures:request',
            'erasures:read',
            'backups:errors:read',
            'audit:read',
          ] as const
        )
          .filter((permission) => grants(role, permission))
          .join(' '),
      ]),
    );
    expect(table).toEqual({
      operator: 'catalog:read sources:manage backups:manage restores:request backups:errors:read',
      dpo: 'catalog:read subjects:access erasures:request erasures:read backups:errors:read audit:read',
      auditor: 'catalog:read erasures:read audit:read',
    });
  });

  it('lets DPOs and auditors read an erasure’s status (REST and GraphQL), and nobody else', () => {
    // Reading the status is its own permission: an auditor checks erasures against the audit
    // trail (pseudonym, counts, legal basis; no personal data), an operator has no business there.
    const readers = (type: { prototype: object }, name: string) => {
      const method = (type.prototype as unknown as Record<string, object>)[name];
      const needed = Reflect.getMetadata('custodia:requires', method) as Permission[];
      return ROLES.filter((role) => needed.some((permission) => grants(role, permission)));
    };
    expect(readers(SubjectsController, 'getErasure')).toEqual(['dpo', 'auditor']);
    expect(readers(CustodiaResolver, 'erasure')).toEqual(['dpo', 'auditor']);
    // Reading is not requesting: an auditor still may not ask for an erasure.
    expect(readers(SubjectsController, 'requestErasure')).toEqual(['dpo']);
    expect(readers(CustodiaResolver, 'requestErasure')).toEqual(['dpo']);
  });
});

describe('custodia token create', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-token-cli-'));
  });
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  it('appends the digest line to the tokens file (mode 0600) and prints the token once', async () => {
    const file = path.join(dir, 'tokens');
    const first = await runCli(['token', 'create', '--actor', 'dpo:jane', '--role', 'dpo', '--file', file]);
    const second = await runCli(['token', 'create', '--actor', 'auditor:kim', '--role', 'auditor', '--file', file]);
    expect([first.code, second.code]).toEqual([0, 0]);
    const [jane, kim] = [first.stdout.trim(), second.stdout.trim()];
    expect(jane).toMatch(/^cst_[\w-]{43}$/);
    const text = await fs.readFile(file, 'utf8');
    expect(text).not.toContain(jane);
    expect(text.trim().split('\n')).toEqual([
      expect.stringMatching(/^dpo:jane dpo sha256:[0-9a-f]{64}$/),
      expect.stringMatching(/^auditor:kim auditor sha256:/),
    ]);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    const tokens = ApiTokens.fromFile(file);
    expect([tokens.authenticate(jane), tokens.authenticate(kim)]).toEqual([
      { actor: 'dpo:jane', role: 'dpo' },
      { actor: 'auditor:kim', role: 'auditor' },
    ]);
  });

  it('refuses an unknown role or an actor name the audit trail could not hold, writing nothing', async () => {
    const file = path.join(dir, 'refused');
    const role = await runCli(['token', 'create', '--actor', 'jane', '--role', 'root', '--file', file]);
    expect(role).toMatchObject({ code: 2, stdout: '' });
    expect(role.stderr).toBe('custodia: error [INVALID_ARGUMENT]: --role must be one of operator, dpo, auditor\n');
    const actor = await runCli(['token', 'create', '--actor', 'Jane Doe <jane@example.org>', '--role', 'dpo', '--file', file]);
    expect(actor.code).toBe(2);
    expect(actor.stderr).toContain('[INVALID_ARGUMENT]: --actor may hold');
    await expect(fs.stat(file)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
