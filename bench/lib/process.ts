import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

/** Outcome of one external command: wall time always, CPU and peak memory when GNU time is present. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
  /** user + system CPU seconds of the command and its children (from GNU time). */
  cpuSeconds: number | null;
  /** Peak resident set size of the largest process, in KiB (from GNU time). */
  maxRssKiB: number | null;
}

export interface CommandOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Exit codes that count as success (default [0]). */
  okCodes?: number[];
}

const GNU_TIME = '/usr/bin/time';
const hasGnuTime = existsSync(GNU_TIME) && spawnSync(GNU_TIME, ['-f', '%e', 'true'], { stdio: 'ignore' }).status === 0;

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly result: CommandResult,
  ) {
    const tail = (result.stderr || result.stdout).trim().split('\n').slice(-15).join('\n');
    super(`${command} exited with code ${result.code}\n${tail}`);
  }
}

/** Runs a command to completion, measuring its wall time (and CPU/RSS through GNU time if installed). */
export async function runCommand(command: string, args: string[], options: CommandOptions = {}): Promise<CommandResult> {
  const scratch = hasGnuTime ? mkdtempSync(path.join(tmpdir(), 'bench-time-')) : null;
  const timeFile = scratch ? path.join(scratch, 'time') : null;
  const [file, argv] = timeFile ? [GNU_TIME, ['-f', '%U %S %M', '-o', timeFile, command, ...args]] : [command, args];
  const started = process.hrtime.bigint();
  const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(file, argv, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (data: Buffer) => out.push(data));
    child.stderr.on('data', (data: Buffer) => err.push(data));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    );
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  let cpuSeconds: number | null = null;
  let maxRssKiB: number | null = null;
  if (timeFile && scratch) {
    try {
      // GNU time prefixes "Command exited with non-zero status N" when the command fails.
      const line = readFileSync(timeFile, 'utf8').trim().split('\n').at(-1) ?? '';
      const [user, system, rss] = line.split(' ').map(Number);
      if ([user, system, rss].every(Number.isFinite)) {
        cpuSeconds = user + system;
        maxRssKiB = rss;
      }
    } catch {
      // no timing file: the command could not be started
    }
    rmSync(scratch, { recursive: true, force: true });
  }
  const full: CommandResult = { ...result, seconds, cpuSeconds, maxRssKiB };
  if (!(options.okCodes ?? [0]).includes(result.code)) throw new CommandError([command, ...args].join(' '), full);
  return full;
}

/** Whether `command` can be run (found on PATH and answers `args`). */
export function commandWorks(command: string, args: string[]): { ok: boolean; output: string } {
  const probe = spawnSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (probe.error || probe.status !== 0) return { ok: false, output: '' };
  return { ok: true, output: `${probe.stdout}${probe.stderr}`.trim() };
}

/** Bytes on disk of a folder, as `du -sb` counts them (apparent sizes). */
export async function diskUsage(dir: string): Promise<number> {
  const { stdout } = await runCommand('du', ['-sb', dir]);
  return Number(stdout.split(/\s/)[0]);
}

/** The last JSON line of `output` whose message_type matches, or null. */
export function lastJsonLine(output: string, messageType?: string): Record<string, unknown> | null {
  const lines = output.trim().split('\n').reverse();
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    try {
      const value = JSON.parse(line) as Record<string, unknown>;
      if (!messageType || value.message_type === messageType) return value;
    } catch {
      // a progress line cut short, or not JSON
    }
  }
  return null;
}
