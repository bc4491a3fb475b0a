import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';

export const CLI = path.resolve(__dirname, '../../dist/cli/main.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** CUSTODIA_PASSPHRASE for the child; null leaves it unset. */
  passphrase?: string | null;
  /** Extra environment variables (on top of a copy of this process's, without CUSTODIA_*). */
  env?: Record<string, string>;
  /** Run as user nobody (through setpriv) when this process is root; directly otherwise. */
  unprivileged?: boolean;
  cwd?: string;
  /** Written to the child's standard input (otherwise it has none). */
  stdin?: string;
  /** Called with the output so far each time stdout grows (e.g. to signal the child mid-way). */
  onStdout?: (stdout: string, child: ChildProcess) => void;
  /** Called with the child right after it is spawned, before it can have written anything. */
  spawned?: (child: ChildProcess) => void;
}

export const DEFAULT_PASSPHRASE = 'correct horse battery staple';

export const isRoot = process.getuid?.() === 0;

const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];

/** Runs `node dist/cli/main.js ...args` in a child process (`npm test` builds dist first). */
export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first`);
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('CUSTODIA_')) env[name] = value;
  const passphrase = options.passphrase === undefined ? DEFAULT_PASSPHRASE : options.passphrase;
  if (passphrase !== null) env.CUSTODIA_PASSPHRASE = passphrase;
  Object.assign(env, options.env);

  const node = [process.execPath, CLI, ...args];
  const [command, ...argv] = options.unprivileged && isRoot ? ['setpriv', ...NOBODY, ...node] : node;
  const child = spawn(command, argv, { env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  options.spawned?.(child);
  // No input unless the test gives some: the child sees end of file at once.
  child.stdin.end(options.stdin ?? '');
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    stdout += text;
    options.onStdout?.(stdout, child);
  });
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs the CLI and fails the test with its output unless it exits 0. */
export async function runCliOk(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const result = await runCli(args, options);
  if (result.code !== 0) {
    throw new Error(`custodia ${args.join(' ')} exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  }
  return result;
}

/**
 * The error contract: exactly one line on stderr, `custodia: error [CODE]: message`, the
 * documented exit code, and no stack trace.
 */
export function expectCliError(result: CliResult, code: string, exitCode: number): string {
  expect(result.stderr).not.toContain('    at ');
  const lines = result.stderr.split('\n').filter((line) => line !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^custodia: error \\[${code}\\]: \\S.*$`));
  expect(result.code).toBe(exitCode);
  return lines[0];
}
