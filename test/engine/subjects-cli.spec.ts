import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { hmacPseudonymiser } from '../../src/engine';
import { expectCliError, runCli, runCliOk } from '../support/cli';
import { listRelative, useTempDirs } from '../support/temp-dirs';
import { dir, file, writeTree } from '../support/tree';

/** The command line for data subjects: subject rules on backup, erasure, access requests, check. */
describe('CLI: data subjects', () => {
  const tempDir = useTempDirs();
  const SECRET = 'pseudonym secret of the CLI test';
  const withSecret = { env: { CUSTODIA_PSEUDONYM_SECRET: SECRET } };
  const rule = ['--subject-rule', 'customers/{subject}/**'];
  let work: string;
  let source: string;
  let repo: string;

  async function snapshotCount(): Promise<number> {
    return (JSON.parse((await runCliOk(['snapshots', '--repo', repo, '--json'])).stdout) as unknown[]).length;
  }

  beforeAll(async () => {
    work = await tempDir('subjects-cli');
    source = path.join(work, 'source');
    repo = path.join(work, 'repo');
    await writeTree(source, {
      customers: dir({
        'alice@example.com': dir({ 'profile.txt': file('Alice, 1 Main Street\n'), 'orders.csv': file('1,2,3\n') }),
        'bob@example.com': dir({ 'profile.txt': file('Bob, 2 Side Street\n') }),
      }),
      'terms.txt': file('terms of service\n'),
    });
    await runCliOk(['repo', 'init', '--repo', repo, '--kdf-n', '1024']);
  });

  it('refuses subject rules without the pseudonym secret, or a malformed rule, before writing anything', async () => {
    const missing = expectCliError(await runCli(['backup', source, '--repo', repo, ...rule]), 'PSEUDONYM_SECRET_MISSING', 1);
    expect(missing).toContain('CUSTODIA_PSEUDONYM_SECRET');
    const malformed = await runCli(['backup', source, '--repo', repo, '--subject-rule', 'customers/{subject}/x'], withSecret);
    expectCliError(malformed, 'INVALID_ARGUMENT', 2);
    const weak = await runCli(['backup', source, '--repo', repo, ...rule], { env: { CUSTODIA_PSEUDONYM_SECRET: 'short' } });
    expectCliError(weak, 'INVALID_ARGUMENT', 2);
    expect(await snapshotCount()).toBe(0);
  });

  it('backs up with subject rules, then erases one subject: restore skips and counts it, check reports it', async () => {
    const backedUp = await runCliOk(['backup', source, '--repo', repo, ...rule], withSecret);
    expect(backedUp.stdout).toContain('data subjects: 2');

    const alice = hmacPseudonymiser(SECRET)('alice@example.com');
    const found = JSON.parse((await runCliOk(['subject', 'find', 'alice@example.com', '--repo', repo, '--json'], withSecret)).stdout) as {
      pseudonym: string;
      status: string;
      snapshots: { files: number; bytes: number }[];
    };
    expect(found).toMatchObject({ pseudonym: alice, status: 'active', snapshots: [{ files: 2, bytes: 27 }] });

    expectCliError(await runCli(['subject', 'shred', 'alice@example.com', '--repo', repo]), 'PSEUDONYM_SECRET_MISSING', 1);
    const shredded = await runCliOk(['subject', 'shred', 'alice@example.com', '--repo', repo], withSecret);
    expect(shredded.stdout).toContain(`subject ${alice} erased: 1 key(s) shredded`);
    expect(shredded.stdout).not.toContain('alice@');
    const again = await runCliOk(['subject', 'shred', alice, '--pseudonym', '--repo', repo]);
    expect(again.stdout).toContain('was erased before');

    const target = path.join(work, 'restored');
    const restored = await runCliOk(['restore', 'latest', '--repo', repo, '--target', target]);
    expect(restored.stdout).toContain('skipped because erased: 2 file(s), 27 B of 1 data subject(s) (1 sealed entry)');
    expect(await listRelative(target)).toEqual([
      'customers',
      'customers/bob@example.com',
      'customers/bob@example.com/profile.txt',
      'terms.txt',
    ]);

    const checked = await runCliOk(['check', '--repo', repo, '--read-data']);
    expect(checked.stdout).toContain('data subjects: 1 active, 1 erased');
    expect(checked.stdout).toContain('no errors were found');
  });

  it("restore --subject restores only that subject's files", async () => {
    const target = path.join(work, 'bob-only');
    const restored = await runCliOk(['restore', 'latest', '--repo', repo, '--target', target, '--subject', 'bob@example.com'], withSecret);
    expect(restored.stdout).toContain('restored snapshot');
    expect(await listRelative(target)).toEqual(['customers', 'customers/bob@example.com', 'customers/bob@example.com/profile.txt']);
    expect(await fs.readFile(path.join(target, 'customers/bob@example.com/profile.txt'), 'utf8')).toBe('Bob, 2 Side Street\n');
    const json = await runCliOk(
      ['restore', 'latest', '--repo', repo, '--target', path.join(work, 'alice-only'), '--subject', 'alice@example.com', '--json'],
      withSecret,
    );
    const summary = JSON.parse(json.stdout.trim().split('\n').at(-1) ?? '{}') as { files: number; skippedErased: unknown };
    expect(summary).toMatchObject({ files: 0, skippedErased: { entries: 1, files: 2, bytes: 27, subjects: 1 } });
  });
});
