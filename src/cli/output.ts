/** Terminal and JSON output shared by the CLI commands. */

/**
 * The exit code when whoever read standard output stopped reading (`custodia … | head -1`):
 * 141, what a shell reports for a process killed by SIGPIPE (128 + 13), which Node ignores.
 */
export const CLOSED_PIPE_EXIT_CODE = 141;

let stdoutClosed = false;
const onClosed: (() => void)[] = [];

/**
 * Watches standard output for a closed pipe (EPIPE): from then on output is dropped, and what
 * asked to know (a backup's stop switch) is told, once. Called once at the start of the CLI.
 */
export function watchStdout(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
    if (stdoutClosed) return;
    stdoutClosed = true;
    // Set here too: the failed write can be reported after the command has returned.
    process.exitCode = CLOSED_PIPE_EXIT_CODE;
    for (const callback of onClosed.splice(0)) callback();
  });
}

/** Whether standard output's reader has gone (nothing written from then on is read). */
export function isStdoutClosed(): boolean {
  return stdoutClosed;
}

/** Calls `callback` once standard output's reader is gone (at once if it is gone already). */
export function whenStdoutCloses(callback: () => void): () => void {
  if (stdoutClosed) {
    callback();
    return () => undefined;
  }
  onClosed.push(callback);
  return () => {
    const index = onClosed.indexOf(callback);
    if (index >= 0) onClosed.splice(index, 1);
  };
}

/** One JSON line, or with `indent`, JSON laid out over several lines. */
export function printJson(value: unknown, indent?: number): void {
  if (stdoutClosed) return;
  process.stdout.write(`${JSON.stringify(value, null, indent)}\n`);
}

/** A repeatable option's parser: each use adds one value. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 2)} ${units[unit]}`;
}

/**
 * A progress line: a bar on stderr when it is a terminal, throttled JSON status lines on stdout
 * with --json, nothing otherwise (so scripts and logs stay clean).
 */
export class ProgressReporter<T extends { bytesDone: number; totalBytes: number; filesDone: number; totalFiles: number }> {
  private last = 0;
  private readonly tty = process.stderr.isTTY === true;

  constructor(
    private readonly json: boolean,
    private readonly intervalMs = 250,
  ) {}

  update(progress: T & { currentFile?: string | null }, force = false): void {
    const now = Date.now();
    if (!force && now - this.last < this.intervalMs) return;
    this.last = now;
    const fraction = progress.totalBytes > 0 ? Math.min(1, progress.bytesDone / progress.totalBytes) : 1;
    if (this.json) {
      const { currentFile, ...counts } = progress;
      printJson({ message_type: 'status', percent_done: Number(fraction.toFixed(4)), ...counts, current_file: currentFile ?? null });
    } else if (this.tty) {
      const width = 30;
      const filled = Math.round(fraction * width);
      const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
      const line = `[${bar}] ${(fraction * 100).toFixed(1)}%  ${progress.filesDone}/${progress.totalFiles} files  ${formatBytes(progress.bytesDone)}/${formatBytes(progress.totalBytes)}`;
      process.stderr.write(`\r${line.padEnd(100)}`);
    }
  }

  done(): void {
    if (this.tty && !this.json) process.stderr.write('\n');
  }
}
