import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { CommandResult, commandWorks, lastJsonLine, runCommand } from './process';

/** One timed command and a short human note on what it did (files read, bytes added, ...). */
export interface StepOutcome {
  result: CommandResult;
  note: string;
}

/** A backup program driven through its command line, with its repository under the bench's run folder. */
export interface BackupTool {
  readonly name: string;
  readonly version: string;
  readonly repo: string;
  init(): Promise<StepOutcome>;
  /** Backs up `source`; `label` names the archive (borg) or the profile (custodia). */
  backup(source: string, label: string): Promise<StepOutcome>;
  /** Restores the latest snapshot under `target`; `root` is the folder that corresponds to `source`. */
  restore(source: string, target: string): Promise<StepOutcome & { root: string }>;
  check(): Promise<StepOutcome>;
  /**
   * Removes the first snapshot (archive `label` for borg) and frees the data only it used. The
   * removal itself is not timed (a metadata change in each tool); the timed command is the one
   * that rewrites and deletes packs: prune, or borg's compact.
   */
  forgetFirstAndPrune(label: string): Promise<StepOutcome>;
}

const PASSPHRASE = 'custodia-bench-passphrase';
const MiB = 1024 * 1024;

export function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

function num(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}

export class CustodiaTool implements BackupTool {
  readonly name = 'custodia';
  readonly repo: string;
  private readonly env: NodeJS.ProcessEnv;

  constructor(
    private readonly cli: string,
    readonly version: string,
    runDir: string,
    private readonly profileDir: string | null,
  ) {
    this.repo = path.join(runDir, 'repo-custodia');
    this.env = { ...process.env, CUSTODIA_PASSPHRASE: PASSPHRASE };
  }

  private run(step: string, args: string[]): Promise<CommandResult> {
    const profile = this.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${path.join(this.profileDir, step)}`] : [];
    return runCommand(process.execPath, [...profile, this.cli, ...args, '--repo', this.repo], { env: this.env });
  }

  async init(): Promise<StepOutcome> {
    return { result: await this.run('init', ['repo', 'init']), note: 'scrypt N=2^17 key slot' };
  }

  async backup(source: string, label: string): Promise<StepOutcome> {
    const result = await this.run(`backup-${label}`, ['backup', source, '--json']);
    const s = lastJsonLine(result.stdout, 'summary');
    const note = s
      ? `${num(s.filesRead)} files read, ${num(s.filesUnchanged)} unchanged; read ${mib(num(s.bytesRead))}, new ${mib(num(s.newBytes))}, stored ${mib(num(s.storedBytes))}`
      : 'no summary line';
    return { result, note };
  }

  async restore(_source: string, target: string): Promise<StepOutcome & { root: string }> {
    const result = await this.run('restore', ['restore', 'latest', '--target', target, '--json']);
    const s = lastJsonLine(result.stdout, 'summary');
    return { result, root: target, note: s ? `${num(s.files)} files, ${mib(num(s.bytes))}` : '' };
  }

  async check(): Promise<StepOutcome> {
    const result = await this.run('check', ['check', '--read-data', '--json']);
    const s = lastJsonLine(result.stdout, 'summary');
    return { result, note: s ? `${num(s.packsRead)} packs, ${num(s.blobsRead)} blobs read; ok=${String(s.ok)}` : '' };
  }

  async forgetFirstAndPrune(): Promise<StepOutcome> {
    const listed = await this.run('snapshots', ['snapshots', '--json']);
    const first = (JSON.parse(listed.stdout) as { id: string }[])[0];
    if (!first) throw new Error('custodia: no snapshot to forget');
    const forgotten = await this.run('forget', ['forget', first.id]);
    if (forgotten.code !== 0) throw new Error(`custodia forget failed: ${forgotten.stderr.trim()}`);
    const result = await this.run('prune', ['prune', '--json']);
    const s = lastJsonLine(result.stdout, 'summary') as { blobs?: Record<string, number>; packs?: Record<string, number> } | null;
    const note = s
      ? `${num(s.blobs?.removed)} blobs removed; ${num(s.packs?.deleted)} packs deleted, ${num(s.packs?.rewritten)} rewritten`
      : 'no summary';
    return { result, note };
  }
}

export class ResticTool implements BackupTool {
  readonly name = 'restic';
  readonly repo: string;
  private readonly env: NodeJS.ProcessEnv;

  constructor(
    readonly version: string,
    runDir: string,
  ) {
    this.repo = path.join(runDir, 'repo-restic');
    // Its own cache folder, so no cache from an earlier run helps or hurts.
    this.env = { ...process.env, RESTIC_PASSWORD: PASSPHRASE, RESTIC_CACHE_DIR: path.join(runDir, 'cache-restic') };
  }

  private run(args: string[]): Promise<CommandResult> {
    return runCommand('restic', ['--repo', this.repo, ...args], { env: this.env });
  }

  async init(): Promise<StepOutcome> {
    return { result: await this.run(['init']), note: 'repository v2 (compression auto)' };
  }

  async backup(source: string): Promise<StepOutcome> {
    const result = await this.run(['backup', '--json', source]);
    const s = lastJsonLine(result.stdout, 'summary');
    const note = s
      ? `${num(s.files_new)} new, ${num(s.files_changed)} changed, ${num(s.files_unmodified)} unmodified files; added ${mib(num(s.data_added))}`
      : 'no summary line';
    return { result, note };
  }

  async restore(source: string, target: string): Promise<StepOutcome & { root: string }> {
    const result = await this.run(['restore', 'latest', '--target', target]);
    // restic recreates the absolute source path below the target.
    return { result, root: path.join(target, source), note: '' };
  }

  async check(): Promise<StepOutcome> {
    return { result: await this.run(['check', '--read-data']), note: '' };
  }

  async forgetFirstAndPrune(): Promise<StepOutcome> {
    const listed = await this.run(['snapshots', '--json']);
    const first = (JSON.parse(listed.stdout) as { id: string }[])[0];
    if (!first) throw new Error('restic: no snapshot to forget');
    const forgotten = await this.run(['forget', first.id]);
    if (forgotten.code !== 0) throw new Error(`restic forget failed: ${forgotten.stderr.trim()}`);
    // Default --max-unused 5%, as Custodia's.
    return { result: await this.run(['prune']), note: '' };
  }
}

export class BorgTool implements BackupTool {
  readonly name = 'borg';
  readonly repo: string;
  private readonly env: NodeJS.ProcessEnv;
  private lastArchive: string | null = null;

  constructor(
    readonly version: string,
    runDir: string,
  ) {
    this.repo = path.join(runDir, 'repo-borg');
    this.env = {
      ...process.env,
      BORG_PASSPHRASE: PASSPHRASE,
      // Cache, config, keys and security folders under the run folder, not in $HOME.
      BORG_BASE_DIR: path.join(runDir, 'borg-base'),
      BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes',
      BORG_DISPLAY_PASSPHRASE: 'no',
    };
  }

  private run(args: string[], cwd?: string): Promise<CommandResult> {
    // Exit code 1 is borg's "warning" (e.g. a file changed while read); the bench treats it as success.
    return runCommand('borg', args, { env: this.env, cwd, okCodes: [0, 1] });
  }

  async init(): Promise<StepOutcome> {
    return { result: await this.run(['init', '--encryption=repokey-blake2', this.repo]), note: 'repokey-blake2' };
  }

  async backup(source: string, label: string): Promise<StepOutcome> {
    const result = await this.run(['create', '--json', '--compression', 'zstd,3', `${this.repo}::${label}`, source]);
    this.lastArchive = label;
    let note = 'no JSON';
    try {
      const stats = (JSON.parse(result.stdout) as { archive: { stats: Record<string, unknown> } }).archive.stats;
      note = `${num(stats.nfiles)} files; deduplicated ${mib(num(stats.deduplicated_size))}`;
    } catch {
      // keep the default note
    }
    if (result.code === 1) note += ' (borg warning)';
    return { result, note };
  }

  async restore(source: string, target: string): Promise<StepOutcome & { root: string }> {
    if (!this.lastArchive) throw new Error('borg: nothing to restore');
    await fs.mkdir(target, { recursive: true });
    const result = await this.run(['extract', `${this.repo}::${this.lastArchive}`], target);
    // borg extracts the archived path (without its leading slash) below the working folder.
    return { result, root: path.join(target, source), note: '' };
  }

  async check(): Promise<StepOutcome> {
    return { result: await this.run(['check', '--verify-data', this.repo]), note: '' };
  }

  async forgetFirstAndPrune(label: string): Promise<StepOutcome> {
    const deleted = await this.run(['delete', `${this.repo}::${label}`]);
    if (deleted.code !== 0) throw new Error(`borg delete failed: ${deleted.stderr.trim()}`);
    // borg 1.2 frees segment space in `compact`; delete only marks chunks unused.
    return { result: await this.run(['compact', this.repo]), note: 'delete, then compact' };
  }
}

/** The tools to compare: Custodia always, restic and borg when installed (else a "skipped" line). */
export function detectTools(
  repoRoot: string,
  runDir: string,
  wanted: string[],
  profileDir: string | null,
  log: (line: string) => void,
): BackupTool[] {
  const tools: BackupTool[] = [];
  if (wanted.includes('custodia')) {
    const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run "npm run build" first`);
    const git = commandWorks('git', ['-C', repoRoot, 'describe', '--always', '--dirty']);
    tools.push(new CustodiaTool(cli, `custodia 0.1.0 (${git.ok ? git.output : 'unknown commit'})`, runDir, profileDir));
  }
  if (wanted.includes('restic')) {
    const probe = commandWorks('restic', ['version']);
    if (probe.ok) tools.push(new ResticTool(probe.output.split('\n')[0], runDir));
    else log('skipped: restic not installed');
  }
  if (wanted.includes('borg')) {
    const probe = commandWorks('borg', ['--version']);
    if (!probe.ok) log('skipped: borg not installed');
    else if (!/^borg 1\./.test(probe.output)) log(`skipped: ${probe.output} (the bench drives borg 1.x only)`);
    else tools.push(new BorgTool(probe.output.split('\n')[0], runDir));
  }
  return tools;
}
