import { ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * Crash safety and concurrency, exercised for real: the CLI runs in child processes that are
 * killed with SIGKILL in the middle of a backup, or run two at a time into one repository.
 */
const CLI = path.resolve(__dirname, '../../dist/cli/main.js');
const ENV = { ...process.env, CUSTODIA_PASSPHRASE: 'crash-test-passphrase' };

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function start(args: string[]): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(process.execPath, [CLI, ...args], { env: ENV });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<Run>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, done };
}

function run(args: string[]): Promise<Run> {
  return start(args).done;
}

/** Deterministic bytes: half compressible text, half noise, so both codec paths are used. */
function content(seed: number, size: number): Buffer {
  const out = Buffer.alloc(size);
  let block = createHash('sha256').update(`seed-${seed}`).digest();
  for (let offset = 0; offset < size; offset += block.length) {
    block = createHash('sha256').update(block).digest();
    block.copy(out, offset);
  }
  if (seed % 2 === 0) out.fill(`record ${seed};name=someone;`, 0, size >> 1);
  return out;
}

async function makeSource(root: string, files: number, size: number, seedBase = 0): Promise<void> {
  for (let i = 0; i < files; i++) {
    const dir = path.join(root, `d${i % 4}`);
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, `f${i}.bin`), content(seedBase + i, size));
  }
}

async function treeDigest(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const entry of await fs.readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    out.set(
      path.relative(root, full),
      createHash('sha256')
        .update(await fs.readFile(full))
        .digest('hex'),
    );
  }
  return out;
}

async function countPacks(repo: string): Promise<number> {
  const entries = await fs.readdir(path.join(repo, 'data'), { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((entry) => entry.isFile() && !entry.name.includes('.tmp-')).length;
}

async function waitFor(condition: () => Promise<boolean>, child: ChildProcess): Promise<boolean> {
  while (child.exitCode === null) {
    if (await condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return false;
}

describe('crash safety', () => {
  let work: string;
  let source: string;
  let repo: string;

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-crash-'));
    source = path.join(work, 'source');
    repo = path.join(work, 'repo');
    await makeSource(source, 24, 4 * 1024 * 1024);
    expect((await run(['repo', 'init', '--repo', repo, '--kdf-n', '1024'])).code).toBe(0);
  });

  afterAll(async () => {
    await fs.rm(work, { recursive: true, force: true });
  });

  // Kill points: as soon as the process runs, after the first pack, after several packs.
  it.each([
    ['right after start', async () => true],
    ['after the first pack is stored', async () => (await countPacks(repo)) >= 1],
    ['after several packs are stored', async () => (await countPacks(repo)) >= 4],
  ])('kill -9 %s leaves a repository that passes check', async (_label, condition) => {
    const { child, done } = start(['backup', source, '--repo', repo, '--full']);
    await waitFor(condition, child);
    child.kill('SIGKILL');
    const killed = await done;

    const checked = await run(['check', '--repo', repo, '--read-data']);
    expect(checked.stderr).toBe('');
    expect(checked.code).toBe(0);
    // If the kill came too late to interrupt, the backup must have completed normally.
    if (killed.code === 0) expect(killed.stdout).toContain('snapshot');
  });

  it('a backup after the interruptions completes, and restores byte for byte', async () => {
    const backup = await run(['backup', source, '--repo', repo]);
    expect(backup.code).toBe(0);
    expect((await run(['check', '--repo', repo, '--read-data'])).code).toBe(0);
    const target = path.join(work, 'restored');
    expect((await run(['restore', 'latest', '--repo', repo, '--target', target])).code).toBe(0);
    expect(await treeDigest(target)).toEqual(await treeDigest(source));
  });

  it('index rebuild adopts the packs an interrupted backup left behind', async () => {
    const rebuilt = await run(['index', 'rebuild', '--repo', repo]);
    expect(rebuilt.code).toBe(0);
    const checked = await run(['check', '--repo', repo, '--read-data']);
    expect(checked.code).toBe(0);
    expect(checked.stdout).not.toContain('in no index');
  });
});

describe('concurrent backups into one repository', () => {
  let work: string;

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-concurrent-'));
  });

  afterAll(async () => {
    await fs.rm(work, { recursive: true, force: true });
  });

  it('both succeed, share deduplicated data, and the repository passes check', async () => {
    const repo = path.join(work, 'repo');
    const first = path.join(work, 'first');
    const second = path.join(work, 'second');
    // Overlapping content: the second source repeats half of the first's files.
    await makeSource(first, 8, 2 * 1024 * 1024, 0);
    await makeSource(second, 4, 2 * 1024 * 1024, 100);
    await makeSource(path.join(second, 'shared'), 4, 2 * 1024 * 1024, 0);
    expect((await run(['repo', 'init', '--repo', repo, '--kdf-n', '1024'])).code).toBe(0);

    const [a, b] = await Promise.all([run(['backup', first, '--repo', repo, '--json']), run(['backup', second, '--repo', repo, '--json'])]);
    expect([a.code, b.code, a.stderr, b.stderr]).toEqual([0, 0, '', '']);

    const checked = await run(['check', '--repo', repo, '--read-data', '--json']);
    expect(checked.code).toBe(0);
    expect(JSON.parse(checked.stdout.trim()).snapshots).toBe(2);

    for (const [name, source] of [
      ['first', first],
      ['second', second],
    ]) {
      const summary = JSON.parse((name === 'first' ? a : b).stdout.trim().split('\n').at(-1) ?? '{}');
      const target = path.join(work, `restored-${name}`);
      expect((await run(['restore', summary.snapshot_id, '--repo', repo, '--target', target])).code).toBe(0);
      expect(await treeDigest(target)).toEqual(await treeDigest(source));
    }
  });
});
