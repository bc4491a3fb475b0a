import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { backup, EngineError, Repository, restore } from '../../src/engine';
import { isRoot, runCli } from '../support/cli';
import { initRepository } from '../support/repository';
import { listRelative, useTempDirs } from '../support/temp-dirs';

/**
 * A restore writes only below its target, even when a symlink is swapped into the path while
 * it runs: every folder is opened from the target (or the restore root) down, one name at a
 * time, without following symlinks. The racers below run in another process, so the swaps
 * really happen between the restore's own system calls; whatever the interleaving, the folder
 * outside must stay empty.
 */
const tempDir = useTempDirs();

/**
 * Swaps `place` between a real folder and a symlink to `outside`, as fast as it can, until
 * killed or `rounds` swaps are done.
 */
function startSwapper(place: string, outside: string, rounds = 200_000): ChildProcess {
  const script = `
    const fs = require('node:fs');
    const [place, outside, rounds] = process.argv.slice(1);
    for (let i = 0; i < Number(rounds); i++) {
      try { fs.rmSync(place, { recursive: true, force: true }); } catch {}
      try { if (i % 2 === 0) fs.symlinkSync(outside, place); else fs.mkdirSync(place); } catch {}
    }
  `;
  return spawn(process.execPath, ['-e', script, place, outside, String(rounds)], { stdio: 'ignore' });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}

async function repositoryWithSnapshot(files: number): Promise<{ repository: Repository; snapshotId: string }> {
  const source = await tempDir('source');
  await fs.mkdir(path.join(source, 'sub', 'deeper'), { recursive: true });
  for (let i = 0; i < files; i++) {
    await fs.writeFile(path.join(source, 'sub', `file-${i}.txt`), `content ${i}\n`);
    await fs.writeFile(path.join(source, 'sub', 'deeper', `file-${i}.txt`), `deeper ${i}\n`);
  }
  const repository = await initRepository(path.join(await tempDir('repo'), 'repo'));
  const { snapshotId } = await backup(repository, source);
  return { repository, snapshotId };
}

function expectRefusedSafely(outcome: PromiseSettledResult<unknown>): void {
  if (outcome.status === 'fulfilled') return;
  expect(outcome.reason).toBeInstanceOf(EngineError);
  expect(['UNSAFE_PATH', 'TARGET_NOT_DIRECTORY', 'TARGET_NOT_EMPTY', 'TARGET_CHANGED']).toContain((outcome.reason as EngineError).code);
}

describe('restore confinement', () => {
  it('refuses a target whose parent became a symlink after the request was accepted', async () => {
    const { repository, snapshotId } = await repositoryWithSnapshot(3);
    const root = await tempDir('restore-root');
    const outside = await tempDir('outside');
    await fs.mkdir(path.join(root, 'x'));
    await fs.symlink(outside, path.join(root, 'x', 'esc'));

    await expect(restore(repository, snapshotId, path.join(root, 'x', 'esc', 'new'), { within: root })).rejects.toMatchObject({
      code: 'UNSAFE_PATH',
    });
    expect(await listRelative(outside)).toEqual([]);
  });

  it('refuses a target outside its restore root', async () => {
    const { repository, snapshotId } = await repositoryWithSnapshot(1);
    const root = await tempDir('restore-root');
    const elsewhere = await tempDir('elsewhere');
    await expect(
      restore(repository, snapshotId, path.join(root, '..', path.basename(elsewhere), 't'), { within: root }),
    ).rejects.toMatchObject({
      code: 'UNSAFE_PATH',
    });
    expect(await listRelative(elsewhere)).toEqual([]);
  });

  it('never writes outside the root while a parent of the target is swapped with a symlink, in a loop', async () => {
    const { repository, snapshotId } = await repositoryWithSnapshot(5);
    const root = await tempDir('restore-root');
    const outside = await tempDir('outside');
    await fs.mkdir(path.join(root, 'x'));
    const swapper = startSwapper(path.join(root, 'x', 'esc'), outside);
    try {
      const outcomes: PromiseSettledResult<unknown>[] = [];
      for (let i = 0; i < 40; i++) {
        outcomes.push(
          ...(await Promise.allSettled([restore(repository, snapshotId, path.join(root, 'x', 'esc', `new-${i}`), { within: root })])),
        );
      }
      outcomes.forEach(expectRefusedSafely);
    } finally {
      await stop(swapper);
    }
    expect(await listRelative(outside)).toEqual([]);
  });

  it('never writes outside the target while a folder inside it is swapped with a symlink during the restore', async () => {
    const { repository, snapshotId } = await repositoryWithSnapshot(60);
    const outside = await tempDir('outside');
    for (let i = 0; i < 15; i++) {
      const target = path.join(await tempDir('target'), 't');
      await fs.mkdir(target);
      const swapper = startSwapper(path.join(target, 'sub'), outside);
      try {
        expectRefusedSafely((await Promise.allSettled([restore(repository, snapshotId, target, { overwrite: true })]))[0]);
      } finally {
        await stop(swapper);
      }
    }
    expect(await listRelative(outside)).toEqual([]);
  });

  it('restores normally below a restore root, creating the folders on the way', async () => {
    const { repository, snapshotId } = await repositoryWithSnapshot(2);
    const root = await tempDir('restore-root');
    const target = path.join(root, 'a', 'b', 'c');
    const result = await restore(repository, snapshotId, target, { within: root });
    expect(result.errors).toEqual([]);
    expect(await fs.readFile(path.join(target, 'sub', 'deeper', 'file-1.txt'), 'utf8')).toBe('deeper 1\n');
  });

  it('keeps setuid and setgid bits with the owner they were set for (restoring as root)', async () => {
    if (!isRoot) throw new Error('this suite runs as root (CI does): owners can only be restored by root');
    const source = await tempDir('source');
    await fs.writeFile(path.join(source, 'tool'), '#!/bin/sh\n');
    await fs.chown(path.join(source, 'tool'), 1234, 5678);
    await fs.chmod(path.join(source, 'tool'), 0o6755);
    const repository = await initRepository(path.join(await tempDir('repo'), 'repo'));
    const { snapshotId } = await backup(repository, source);
    const target = path.join(await tempDir('target'), 't');
    const result = await restore(repository, snapshotId, target);
    expect(result.warnings).toEqual([]);
    const restored = await fs.stat(path.join(target, 'tool'));
    expect([restored.mode & 0o7777, restored.uid, restored.gid]).toEqual([0o6755, 1234, 5678]);
  });

  it('drops setuid and setgid bits when it cannot restore the owner (not root), and says so', async () => {
    if (!isRoot) throw new Error('this case runs the CLI as user nobody, which needs root to set up');
    const work = await tempDir('unprivileged');
    const source = path.join(work, 'source');
    await fs.mkdir(source);
    await fs.writeFile(path.join(source, 'tool'), '#!/bin/sh\n');
    await fs.chmod(path.join(source, 'tool'), 0o6755);
    const repo = path.join(work, 'repo');
    expect((await runCli(['repo', 'init', '--repo', repo, '--kdf-n', '1024'])).code).toBe(0);
    expect((await runCli(['backup', '--repo', repo, source])).code).toBe(0);
    // The user nobody restores: it may read the repository and write the target, nothing more.
    execFileSync('chown', ['-R', '65534:65534', repo]);
    const target = path.join(work, 'target');
    await fs.mkdir(target);
    await fs.chown(target, 65534, 65534);
    await fs.chmod(work, 0o755);
    const result = await runCli(['restore', '--repo', repo, 'latest', '--target', target], { unprivileged: true });
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('setuid/setgid bits of 1 entry were dropped, as their owners were not restored');
    expect(result.stderr).toContain('owners of 2 entries were not restored: only root can restore owners');
    expect((await fs.stat(path.join(target, 'tool'))).mode & 0o7777).toBe(0o755);
  });
});
