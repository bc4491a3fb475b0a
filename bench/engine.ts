/**
 * Engine benchmark: Custodia side by side with restic and BorgBackup (when installed) on the
 * shared personal-data-like data set.
 *
 *   npm run bench:engine -- [--size 1G] [--workdir /tmp/custodia-bench] [--repeat N]
 *                           [--tools custodia,restic,borg] [--keep] [--cpu-prof] [--out FILE]
 *
 * Per tool: init, backup of day 0 (first, full), one shared ~1 % mutation (day 1), incremental
 * backup, a second unchanged backup (no-op), restore of the latest snapshot (verified against
 * the source outside the timing), and a full data check. Every step runs as the tool's own CLI
 * and is timed from spawn to exit; repository size (du -sb) is taken after each step.
 */
import { cpus, loadavg, release, totalmem } from 'node:os';
import { existsSync, mkdirSync, promises as fs, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { compareTrees, DATASET_SEED, DatasetInfo, ensureDataset, treeTotals } from './lib/dataset';
import { diskUsage, lastJsonLine, runCommand } from './lib/process';
import { BackupTool, detectTools, StepOutcome } from './lib/tools';

const STEPS = [
  'init',
  'backup day 0 (full)',
  'backup day 1 (incremental)',
  'backup day 1 again (no-op)',
  'restore latest',
  'check, read all data',
  'forget day 0, prune',
] as const;
type Step = (typeof STEPS)[number];

interface Sample {
  seconds: number;
  cpuSeconds: number | null;
  maxRssKiB: number | null;
  repoBytes: number;
  /** Bytes the step processed, for a throughput figure; null where a rate means nothing. */
  rateBytes: number | null;
  /** One-minute load average when the step ended: how busy the (shared) machine was. */
  load: number;
  note: string;
}

interface Options {
  size: string;
  workdir: string;
  repeat: number;
  tools: string[];
  keep: boolean;
  cpuProf: boolean;
  out: string | null;
}

const MiB = 1024 * 1024;

function log(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      size: { type: 'string', default: '1G' },
      workdir: { type: 'string', default: process.env.CUSTODIA_BENCH_WORKDIR ?? '/tmp/custodia-bench' },
      repeat: { type: 'string', default: '1' },
      tools: { type: 'string', default: 'custodia,restic,borg' },
      keep: { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      'usage: npm run bench:engine -- [--size 1G] [--workdir DIR] [--repeat N] [--tools custodia,restic,borg] [--keep] [--cpu-prof] [--out FILE]\n',
    );
    process.exit(0);
  }
  const repeat = Number(values.repeat);
  if (!Number.isInteger(repeat) || repeat < 1) throw new Error('--repeat must be a positive integer');
  const tools = values.tools.split(',').map((tool) => tool.trim());
  for (const tool of tools) if (!['custodia', 'restic', 'borg'].includes(tool)) throw new Error(`unknown tool ${tool}`);
  return {
    size: values.size,
    workdir: path.resolve(values.workdir),
    repeat,
    tools,
    keep: values.keep,
    cpuProf: values['cpu-prof'],
    out: values.out ?? null,
  };
}

/** The repository root: the nearest folder above this script holding package.json. */
function findRepoRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${start}`);
  }
}

class Results {
  private readonly samples = new Map<string, Map<Step, Sample[]>>();

  add(tool: string, step: Step, sample: Sample): void {
    const byStep = this.samples.get(tool) ?? new Map<Step, Sample[]>();
    this.samples.set(tool, byStep);
    byStep.set(step, [...(byStep.get(step) ?? []), sample]);
  }

  get(tool: string, step: Step): Sample[] {
    return this.samples.get(tool)?.get(step) ?? [];
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function fmtSeconds(samples: Sample[]): string {
  if (samples.length === 0) return '—';
  const values = samples.map((s) => s.seconds).filter(Number.isFinite);
  if (values.length === 0) return 'failed';
  const m = median(values).toFixed(2);
  return values.length === 1 ? m : `${m} (${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)})`;
}

function fmtOptional(values: (number | null)[], format: (value: number) => string): string {
  const known = values.filter((value): value is number => value !== null);
  return known.length ? format(median(known)) : '—';
}

async function main(): Promise<void> {
  const options = parseOptions();
  const repoRoot = findRepoRoot(__dirname);
  const sharedBench = path.resolve(process.env.CUSTODIA_SHARED_BENCH ?? path.join(repoRoot, '..', 'shared', 'bench'));
  for (const script of ['make-dataset.sh', 'mutate-dataset.sh']) {
    if (!existsSync(path.join(sharedBench, script))) {
      throw new Error(`${script} not found in ${sharedBench}; set CUSTODIA_SHARED_BENCH to the shared bench folder`);
    }
  }
  if (!path.relative(repoRoot, options.workdir).startsWith('..')) {
    throw new Error(`--workdir ${options.workdir} is inside the repository; use a folder outside it (default /tmp/custodia-bench)`);
  }
  const runDir = path.join(options.workdir, 'run');
  const profileDir = options.cpuProf ? path.join(options.workdir, `profiles-${new Date().toISOString().replace(/[:.]/g, '-')}`) : null;

  const dataset = await ensureDataset(sharedBench, options.workdir, options.size, log);
  log(
    `data set ${dataset.dir}${dataset.reused ? ' (reused)' : ''}: ${dataset.info.files} files, ${(dataset.info.totalBytes / MiB).toFixed(1)} MiB`,
  );
  const tools = detectTools(repoRoot, runDir, options.tools, profileDir, (line) => {
    log(line);
    console.log(line);
  });

  const results = new Results();
  const startLoad = loadavg()[0];
  let mutation: Record<string, unknown> | null = null;
  let day1 = { files: 0, bytes: 0 };
  const verification = new Map<string, string>();
  for (let round = 1; round <= options.repeat; round++) {
    log(`round ${round}/${options.repeat}: copying the day-0 tree`);
    await fs.rm(runDir, { recursive: true, force: true });
    await fs.mkdir(runDir, { recursive: true });
    const tree = path.join(runDir, 'tree');
    // cp -a keeps mtimes, so every round and every tool sees the same day-0 tree.
    await runCommand('cp', ['-a', dataset.dir, tree]);
    const failed = new Set<string>();

    const step = async <T extends StepOutcome>(
      tool: BackupTool,
      name: Step,
      rateBytes: (repoBytes: number) => number | null,
      action: () => Promise<T>,
    ): Promise<T | null> => {
      if (failed.has(tool.name)) return null;
      log(`${tool.name}: ${name} ...`);
      let outcome: T;
      try {
        outcome = await action();
      } catch (error) {
        failed.add(tool.name);
        const message = error instanceof Error ? error.message : String(error);
        log(`${tool.name}: ${name} FAILED: ${message}`);
        results.add(tool.name, name, {
          seconds: NaN,
          cpuSeconds: null,
          maxRssKiB: null,
          repoBytes: 0,
          rateBytes: null,
          load: loadavg()[0],
          note: `FAILED: ${message.split('\n')[0]}`,
        });
        return null;
      }
      const repoBytes = await diskUsage(tool.repo);
      const { seconds, cpuSeconds, maxRssKiB } = outcome.result;
      const load = loadavg()[0];
      results.add(tool.name, name, {
        seconds,
        cpuSeconds,
        maxRssKiB,
        repoBytes,
        rateBytes: rateBytes(repoBytes),
        load,
        note: outcome.note,
      });
      log(
        `${tool.name}: ${name} took ${seconds.toFixed(2)} s (cpu ${cpuSeconds?.toFixed(2) ?? '?'} s, load ${load.toFixed(1)}), repo ${(repoBytes / MiB).toFixed(1)} MiB; ${outcome.note}`,
      );
      return outcome;
    };

    for (const tool of tools) {
      await step(
        tool,
        'init',
        () => null,
        () => tool.init(),
      );
      await step(
        tool,
        'backup day 0 (full)',
        () => dataset.info.totalBytes,
        () => tool.backup(tree, 'day0'),
      );
    }

    log('mutating the tree: day 1');
    const mutated = await runCommand(path.join(sharedBench, 'mutate-dataset.sh'), [tree, '1', DATASET_SEED]);
    mutation = lastJsonLine(mutated.stdout);
    day1 = await treeTotals(tree);

    for (const tool of tools) {
      await step(
        tool,
        'backup day 1 (incremental)',
        () => null,
        () => tool.backup(tree, 'day1'),
      );
      await step(
        tool,
        'backup day 1 again (no-op)',
        () => null,
        () => tool.backup(tree, 'day1-noop'),
      );
      const target = path.join(runDir, `restore-${tool.name}`);
      const restored = await step(
        tool,
        'restore latest',
        () => day1.bytes,
        () => tool.restore(tree, target),
      );
      if (restored) {
        const problems = await compareTrees(tree, restored.root);
        const verdict = problems.length === 0 ? 'byte-identical, modes and mtimes match' : `MISMATCH: ${problems.slice(0, 3).join('; ')}`;
        verification.set(tool.name, verdict);
        log(`${tool.name}: restore verification: ${verdict}`);
        if (problems.length) for (const problem of problems) log(`  ${problem}`);
      }
      await fs.rm(target, { recursive: true, force: true });
      await step(
        tool,
        'check, read all data',
        (repoBytes) => repoBytes,
        () => tool.check(),
      );
      await step(
        tool,
        'forget day 0, prune',
        () => null,
        () => tool.forgetFirstAndPrune('day0'),
      );
    }
  }
  if (!options.keep) await fs.rm(runDir, { recursive: true, force: true });

  const report = render(options, tools, results, dataset.info, day1, mutation, verification, profileDir, startLoad);
  process.stdout.write(report);
  const date = new Date().toISOString().slice(0, 10);
  const outFile = options.out
    ? path.resolve(options.out)
    : path.join(repoRoot, 'bench', 'results', `engine-${date}${options.size === '1G' ? '' : `-${options.size}`}.md`);
  mkdirSync(path.dirname(outFile), { recursive: true });
  writeFileSync(outFile, report);
  log(`results written to ${outFile}`);
  if (profileDir) log(`CPU profiles of the Custodia steps are in ${profileDir}`);
}

function render(
  options: Options,
  tools: BackupTool[],
  results: Results,
  info: DatasetInfo,
  day1: { files: number; bytes: number },
  mutation: Record<string, unknown> | null,
  verification: Map<string, string>,
  profileDir: string | null,
  startLoad: number,
): string {
  const lines: string[] = [];
  const cpu = cpus();
  lines.push(`# Engine benchmark, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`, '');
  lines.push(`- Command: \`npm run bench:engine -- ${process.argv.slice(2).join(' ')}\``.replace(/ -- `$/, '`'));
  lines.push(
    `- Machine: ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${cpu.length} cores, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, Linux ${release()}, Node ${process.version}`,
  );
  lines.push(`- Tools: ${tools.map((tool) => tool.version).join('; ') || 'none'}`);
  lines.push(
    `- Data set: \`make-dataset.sh DIR ${options.size} ${info.seed}\`: ${info.files} files in ${info.dirs} folders, ${(info.totalBytes / MiB).toFixed(1)} MiB (day 0)`,
  );
  if (mutation) {
    const changed = Number(mutation.changedBytes ?? 0);
    const part = (key: string) => (mutation[key] ?? {}) as { files?: number; bytes?: number };
    lines.push(
      `- Day 1 (\`mutate-dataset.sh DIR 1\`): ${(changed / MiB).toFixed(1)} MiB changed (${String(mutation.changedPct)} %): ` +
        `${part('edited').files ?? 0} files edited, ${part('appended').files ?? 0} appended, ${part('added').files ?? 0} added, ${part('deleted').files ?? 0} deleted; ` +
        `${day1.files} files, ${(day1.bytes / MiB).toFixed(1)} MiB`,
    );
  }
  lines.push(
    '- Settings: Custodia defaults (FastCDC 512 KiB/1 MiB/8 MiB, zstd 3, AES-256-GCM, HMAC-SHA256 ids, 16 MiB packs); restic defaults (compression auto, repo v2, CDC 512 KiB/1 MiB/8 MiB); ' +
      'borg `init --encryption=repokey-blake2`, `create --compression zstd,3` (buzhash CDC 512 KiB/2 MiB/8 MiB). Each tool in its own fresh repository and cache folder.',
  );
  lines.push(
    `- Each timed step ran ${options.repeat === 1 ? 'once' : `${options.repeat} times (median, min–max)`}, wall clock from spawn to exit; ` +
      'page cache warm (the tree had just been copied); CPU = user + system seconds and peak RSS from GNU time. ' +
      `The machine is shared and noisy: load average ${startLoad.toFixed(1)} at the start; "Load 1m" is the one-minute load average as each step ended (${cpu.length} cores).`,
  );
  if (profileDir) lines.push(`- Custodia ran with \`node --cpu-prof\` (slower); profiles in ${profileDir}`);
  lines.push('');

  lines.push('## Wall time (s)', '');
  lines.push(`| Step | ${tools.map((tool) => tool.name).join(' | ')} |`);
  lines.push(`|---|${tools.map(() => '---:').join('|')}|`);
  for (const step of STEPS) lines.push(`| ${step} | ${tools.map((tool) => fmtSeconds(results.get(tool.name, step))).join(' | ')} |`);
  const sizeAfter = (step: Step) => (tool: BackupTool) => {
    const last = results.get(tool.name, step).at(-1);
    return last && last.repoBytes ? `${(last.repoBytes / MiB).toFixed(1)} MiB` : '—';
  };
  lines.push(`| repository size after day 1 | ${tools.map(sizeAfter('check, read all data')).join(' | ')} |`);
  lines.push(`| repository size after the prune | ${tools.map(sizeAfter('forget day 0, prune')).join(' | ')} |`);
  lines.push('');

  lines.push('## Details', '');
  lines.push('| Tool | Step | Wall s | CPU s | MiB/s | Peak RSS MiB | Load 1m | Repo size after | Notes |');
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---|');
  for (const tool of tools) {
    for (const step of STEPS) {
      const samples = results.get(tool.name, step);
      if (samples.length === 0) continue;
      const ok = samples.filter((s) => Number.isFinite(s.seconds));
      const cpuSeconds = fmtOptional(
        ok.map((s) => s.cpuSeconds),
        (v) => v.toFixed(2),
      );
      const rate = fmtOptional(
        ok.map((s) => (s.rateBytes === null ? null : s.rateBytes / MiB / s.seconds)),
        (v) => v.toFixed(1),
      );
      const rss = fmtOptional(
        ok.map((s) => s.maxRssKiB),
        (v) => (v / 1024).toFixed(0),
      );
      const load = fmtOptional(
        samples.map((s) => s.load),
        (v) => v.toFixed(1),
      );
      const repo = ok.length ? `${(ok[ok.length - 1].repoBytes / MiB).toFixed(1)} MiB` : '—';
      let note = samples[samples.length - 1].note;
      if (step === 'restore latest' && verification.has(tool.name)) note = [note, verification.get(tool.name)].filter(Boolean).join('; ');
      const cells = [tool.name, step, fmtSeconds(ok), cpuSeconds, rate, rss, load, repo, note.replace(/\|/g, '\\|')];
      lines.push(`| ${cells.join(' | ')} |`);
    }
  }
  lines.push('');
  lines.push(
    'MiB/s: day-0 bytes per second for the full backup, restored bytes for the restore, repository bytes for the check. ' +
      'Repository size is `du -sb` of the repository folder (caches excluded).',
  );
  lines.push('');
  return lines.join('\n');
}

main().catch((error: unknown) => {
  log(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
