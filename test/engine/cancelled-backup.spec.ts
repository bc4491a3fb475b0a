import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { backup, check, isEngineError } from '../../src/engine';
import { expectCliError, runCli, runCliOk } from '../support/cli';
import { initRepository, openRepository } from '../support/repository';
import { useTempDirs } from '../support/temp-dirs';
import { file, MiB, pseudoRandomBytes, writeTree } from '../support/tree';

/**
 * A backup stopped through its AbortSignal (a cancelled job) fails with CANCELLED and writes no
 * snapshot; what it stored so far leaves the repository consistent, and the next backup
 * deduplicates against it instead of storing it again.
 */
describe('cancelling a backup', () => {
  const tempDir = useTempDirs();

  it('stops mid-way with CANCELLED, leaves no snapshot and a repository that checks clean', async () => {
    const work = await tempDir('cancel');
    const source = path.join(work, 'source');
    const repoPath = path.join(work, 'repo');
    const files: Record<string, ReturnType<typeof file>> = {};
    for (let i = 0; i < 12; i++) files[`part-${i}.bin`] = file(pseudoRandomBytes(`part-${i}`, 2 * MiB));
    await writeTree(source, files);
    const repository = await initRepository(repoPath);

    const controller = new AbortController();
    let filesWhenCancelled = 0;
    const cancelled = await backup(repository, source, {
      onProgress: (progress) => {
        // Cancel once a third of the files are stored.
        if (progress.filesDone >= 4 && !controller.signal.aborted) {
          filesWhenCancelled = progress.filesDone;
          controller.abort();
        }
      },
      signal: controller.signal,
    }).then(
      () => null,
      (error: unknown) => error,
    );
    expect(isEngineError(cancelled, 'CANCELLED')).toBe(true);
    expect((cancelled as Error).message).toBe('the backup was cancelled; no snapshot was written');
    expect(filesWhenCancelled).toBeGreaterThanOrEqual(4);

    const reopened = await openRepository(repoPath);
    expect(await reopened.listSnapshots()).toEqual([]);
    const checked = await check(reopened, { readData: true });
    expect(checked).toMatchObject({ ok: true, errors: [], snapshots: 0 });

    // The files stored before the cancel are not stored again.
    const next = await backup(reopened, source);
    expect(next.snapshot.statistics.duplicateBytes).toBeGreaterThanOrEqual(4 * 2 * MiB);
    expect(next.snapshot.statistics.files).toBe(12);
  });

  it('on the command line, Ctrl-C stops the backup with CANCELLED (exit 130), no snapshot and no lock left', async () => {
    const work = await tempDir('cancel-cli');
    const source = path.join(work, 'source');
    const repoPath = path.join(work, 'repo');
    const files: Record<string, ReturnType<typeof file>> = {};
    for (let i = 0; i < 48; i++) files[`scan-${i}.bin`] = file(randomBytes(2 * MiB));
    await writeTree(source, files);
    await runCliOk(['repo', 'init', '--repo', repoPath], { env: { CUSTODIA_KDF_N: '1024' } });

    let interrupted = false;
    const result = await runCli(['backup', '--repo', repoPath, '--json', source], {
      onStdout: (stdout, child) => {
        // The first progress line: the backup is under way.
        if (!interrupted && stdout.includes('"message_type":"status"')) {
          interrupted = true;
          child.kill('SIGINT');
        }
      },
    });
    expect(interrupted).toBe(true);
    expectCliError(result, 'CANCELLED', 130);
    const repository = await openRepository(repoPath);
    expect(await repository.listSnapshots()).toEqual([]);
    expect(await fs.readdir(path.join(repoPath, 'locks'))).toEqual([]);
  });
});
