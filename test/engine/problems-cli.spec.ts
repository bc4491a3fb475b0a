import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { hmacPseudonymiser } from '../../src/engine';
import { expectCliError, runCli, runCliOk } from '../support/cli';
import { openRepository } from '../support/repository';
import { useTempDirs } from '../support/temp-dirs';
import { dir, file, MiB, writeTree } from '../support/tree';

/** Leaves a Unix socket file at `at` (the process that bound it exits): a `socket` problem. */
function makeSocket(at: string): void {
  execFileSync('python3', ['-c', 'import socket,sys;s=socket.socket(socket.AF_UNIX);s.bind(sys.argv[1])', at]);
}

/** `custodia snapshots --errors ID`: what a backup skipped, with erased subjects' paths kept sealed. */
describe('CLI: snapshots --errors', () => {
  const tempDir = useTempDirs();
  const SECRET = 'pseudonym secret of the problems test';
  const withSecret = { env: { CUSTODIA_PSEUDONYM_SECRET: SECRET } };
  let source: string;
  let repo: string;
  let snapshotId: string;

  beforeAll(async () => {
    const work = await tempDir('problems-cli');
    source = path.join(work, 'source');
    repo = path.join(work, 'repo');
    await writeTree(source, {
      customers: dir({ 'alice@example.com': dir({ 'profile.txt': file('Alice\n') }), 'bob@example.com': dir({}) }),
      'terms.txt': file('terms\n'),
    });
    makeSocket(path.join(source, 'top.sock'));
    makeSocket(path.join(source, 'customers', 'alice@example.com', 'alice.sock'));
    makeSocket(path.join(source, 'customers', 'bob@example.com', 'bob.sock'));
    await runCliOk(['repo', 'init', '--repo', repo, '--kdf-n', '1024']);
    const backedUp = await runCliOk(['backup', source, '--repo', repo, '--json', '--subject-rule', 'customers/{subject}/**'], withSecret);
    const summary = JSON.parse(backedUp.stdout.trim().split('\n').pop()!) as { snapshot_id: string; problems: object };
    expect(summary.problems).toEqual({ socket: 3 });
    snapshotId = summary.snapshot_id;
  });

  it('lists each problem with its reason, path and message, as text and as JSON', async () => {
    const text = await runCliOk(['snapshots', '--repo', repo, '--errors', snapshotId.slice(0, 8)]);
    const lines = text.stdout.trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^socket +${path.join(source, 'top.sock')}: \\S`)),
        expect.stringMatching(new RegExp(`^socket +${path.join(source, 'customers', 'alice@example.com', 'alice.sock')}: \\S`)),
      ]),
    );
    expect(lines[3]).toBe(`snapshot ${snapshotId.slice(0, 8)}: 3 problem(s): socket 3`);
    expect(text.stderr).toBe('');

    const json = JSON.parse((await runCliOk(['snapshots', '--repo', repo, '--errors', 'latest', '--json'])).stdout);
    expect(json).toMatchObject({ snapshot_id: snapshotId, path: source, recorded: true, counts: { socket: 3 } });
    expect(json.problems).toHaveLength(3);
    expect(json.problems).toContainEqual({ reason: 'socket', path: path.join(source, 'top.sock'), message: expect.any(String) });
  });

  it('shows an erased subject’s problem by reason and pseudonym only', async () => {
    const alice = hmacPseudonymiser(SECRET)('alice@example.com');
    await runCliOk(['subject', 'shred', 'alice@example.com', '--repo', repo], withSecret);
    const text = await runCliOk(['snapshots', '--repo', repo, '--errors', snapshotId]);
    expect(text.stdout).toContain(`socket      <erased data subject ${alice}>\n`);
    expect(text.stdout).not.toContain('alice.sock');
    expect(text.stdout).not.toContain('alice@');
    expect(text.stdout).toContain(path.join(source, 'customers', 'bob@example.com', 'bob.sock'));

    const json = await runCliOk(['snapshots', '--repo', repo, '--errors', snapshotId, '--json']);
    expect(json.stdout).not.toContain('alice');
    expect(JSON.parse(json.stdout).problems).toContainEqual({ reason: 'socket', subject: alice, sealed: 'shredded' });
  });

  it('says so, with a stable code, for an unknown snapshot', async () => {
    expectCliError(await runCli(['snapshots', '--repo', repo, '--errors', 'ffffffff']), 'SNAPSHOT_NOT_FOUND', 1);
  });
});

/** `custodia backup --json … | head -1`: the reader goes away mid-backup. */
describe('CLI: a closed pipe', () => {
  const tempDir = useTempDirs();

  it('stops the backup quietly (exit 141), releasing its lock, when stdout’s reader goes away', async () => {
    const work = await tempDir('closed-pipe');
    const source = path.join(work, 'source');
    const repo = path.join(work, 'repo');
    const files: Record<string, ReturnType<typeof file>> = {};
    for (let i = 0; i < 48; i++) files[`part-${i}.bin`] = file(randomBytes(2 * MiB));
    await writeTree(source, files);
    await runCliOk(['repo', 'init', '--repo', repo, '--kdf-n', '1024']);

    let closed = false;
    const result = await runCli(['backup', '--repo', repo, '--json', source], {
      onStdout: (stdout, child) => {
        // The first line has arrived: the reader stops reading, as `head -1` does.
        if (!closed && stdout.includes('\n')) {
          closed = true;
          child.stdout?.destroy();
        }
      },
    });
    expect(closed).toBe(true);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(141);
    expect(await fs.readdir(path.join(repo, 'locks'))).toEqual([]);
    // Stopped as by Ctrl-C, no snapshot written; or, on a machine so busy that the backup had
    // finished before the reader went, one complete snapshot. Either way the repository checks clean.
    const snapshots = await (await openRepository(repo)).listSnapshots();
    if (snapshots.length > 0) expect(snapshots.map(({ snapshot }) => snapshot.statistics.files)).toEqual([48]);
    else expect(snapshots).toEqual([]);
    await runCliOk(['check', '--repo', repo]);
  });

  it('ends quietly with 141 when the reader is gone before the first line', async () => {
    const work = await tempDir('closed-pipe-early');
    const repo = path.join(work, 'repo');
    await runCliOk(['repo', 'init', '--repo', repo, '--kdf-n', '1024']);
    await fs.writeFile(path.join(work, 'one.txt'), 'one\n');
    const result = await runCli(['backup', '--repo', repo, '--json', path.join(work, 'one.txt')], {
      onStdout: () => undefined,
      spawned: (child) => child.stdout?.destroy(),
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(141);
    expect(await fs.readdir(path.join(repo, 'locks'))).toEqual([]);
  });
});
