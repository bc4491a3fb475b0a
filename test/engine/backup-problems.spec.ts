import { execFileSync } from 'node:child_process';
import { appendFileSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { backup, hmacPseudonymiser, listProblems, restore } from '../../src/engine';
import { initRepository, openRepository } from '../support/repository';
import { useTempDirs } from '../support/temp-dirs';
import { dir, file, MiB, pseudoRandomBytes, writeTree } from '../support/tree';

/**
 * What a backup skipped, or stored as it found it changing, is never silent: it is recorded in
 * the snapshot (path, reason, message), counted by reason in its statistics, and inside a data
 * subject's data its path is sealed under the subject's key, so erasure removes it too.
 */
const tempDir = useTempDirs();

/** A socket file stays after its process exits: a real one, as a running program leaves it. */
function makeSocket(at: string): void {
  execFileSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', at]);
}

describe('problems a backup meets', () => {
  it('records a file that grew while it was read as changed, with what it read', async () => {
    const source = await tempDir('changing');
    const growing = path.join(source, 'growing.bin');
    await writeTree(source, { 'growing.bin': file(pseudoRandomBytes('growing', 3 * MiB)), 'steady.txt': file('steady\n') });
    const repoPath = path.join(await tempDir('repo'), 'repo');
    await initRepository(repoPath);
    let appended = false;
    const result = await backup(await openRepository(repoPath), source, {
      // The first chunk of the big file is stored: the file grows before the next read.
      onProgress: (progress) => {
        if (!appended && progress.currentFile?.endsWith('growing.bin') && progress.bytesDone > 0) {
          appended = true;
          appendFileSync(growing, Buffer.alloc(1000, 1));
        }
      },
    });
    expect(appended).toBe(true);
    expect(result.problems).toEqual([
      { reason: 'changed', path: 'growing.bin', message: expect.stringContaining('changed while it was read') },
    ]);
    expect(result.incomplete).toBe(false);
    expect(result.snapshot.statistics.problems).toEqual({ changed: 1 });
    expect(result.snapshot.problems).toEqual([{ reason: 'changed', path: 'growing.bin', message: expect.any(String) }]);
  });

  it('skips a socket with a recorded problem, and stores FIFOs', async () => {
    const source = await tempDir('special');
    await writeTree(source, { 'plain.txt': file('plain\n') });
    makeSocket(path.join(source, 'app.sock'));
    execFileSync('mkfifo', [path.join(source, 'queue')]);
    const repoPath = path.join(await tempDir('repo'), 'repo');
    await initRepository(repoPath);
    const result = await backup(await openRepository(repoPath), source);
    expect(result.problems).toEqual([{ reason: 'socket', path: 'app.sock', message: 'a socket holds no data and cannot be restored' }]);
    expect(result.snapshot.statistics).toMatchObject({ errors: 0, specialFiles: 1, problems: { socket: 1 } });
    const target = path.join(await tempDir('target'), 't');
    await restore(await openRepository(repoPath), result.snapshotId, target);
    expect((await fs.lstat(path.join(target, 'queue'))).isFIFO()).toBe(true);
    await expect(fs.lstat(path.join(target, 'app.sock'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it("seals the path of a problem inside a data subject's data, and erasure leaves only its reason", async () => {
    const pseudonymise = hmacPseudonymiser('the pseudonym secret of this test');
    const source = await tempDir('subject-problems');
    await writeTree(source, { customers: dir({ 'alice@example.com': dir({ 'notes.txt': file('notes\n') }) }), 'public.txt': file('p\n') });
    makeSocket(path.join(source, 'customers', 'alice@example.com', 'agent.sock'));
    makeSocket(path.join(source, 'public.sock'));
    const repoPath = path.join(await tempDir('repo'), 'repo');
    await initRepository(repoPath);
    const repository = await openRepository(repoPath);
    const result = await backup(repository, source, { subjects: { rules: ['customers/{subject}/**'], pseudonymise } });
    const alice = pseudonymise('alice@example.com');
    // The caller (who ran the backup) sees both paths; the snapshot keeps Alice's only sealed.
    expect(result.problems.map((problem) => problem.path).sort()).toEqual(['customers/alice@example.com/agent.sock', 'public.sock']);
    const stored = JSON.stringify(result.snapshot.problems);
    expect(stored).not.toContain('alice');
    expect(stored).toContain('public.sock');
    expect(result.snapshot.problems).toContainEqual({ reason: 'socket', subject: alice, key: expect.any(String), box: expect.any(String) });

    const listed = await listProblems(result.snapshot.problems, repository.subjectKeys());
    expect(listed).toContainEqual({
      reason: 'socket',
      path: 'customers/alice@example.com/agent.sock',
      message: expect.any(String),
      subject: alice,
    });

    await repository.keyVault.shred(alice);
    const afterErasure = await listProblems(result.snapshot.problems, (await openRepository(repoPath)).subjectKeys());
    expect(afterErasure).toContainEqual({ reason: 'socket', subject: alice, sealed: 'shredded' });
    expect(afterErasure).toContainEqual({ reason: 'socket', path: 'public.sock', message: expect.any(String) });
    expect(JSON.stringify(afterErasure)).not.toContain('alice@');
  });
});
