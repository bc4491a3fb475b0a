/**
 * What a restore gives back, Custodia beside restic and BorgBackup, counted by a byte-level
 * comparison of each restored tree with its source (names as bytes, type, mode, owner, size,
 * content, hard-link groups, allocated blocks of sparse files, xattrs, device numbers, mtime and
 * atime in nanoseconds: the fidelity suite's walker, test/support/fidelity).
 *
 *   npm run bench:fidelity -- [--source DIR] [--workdir /tmp/custodia-fidelity] [--tools custodia,restic,borg] [--out FILE]
 *
 * Trees: a copy of /usr/lib (made with `cp -a`, leaving out the largest vendor folders to keep
 * the run short) or `--source DIR`, and the fidelity suite's tree with every case (built as
 * root). Each tool backs a tree up and restores it with its default options, as a user would;
 * differences are counted by kind, and the first few of each kind are listed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { buildFidelityTree, compareWalks, expectedRestore, Walk, walkTree, withoutPaths } from '../test/support/fidelity';
import { BackupTool, detectTools } from './lib/tools';

/** Folders of /usr/lib left out of the copy: large, and nothing in them the rest lacks. */
const LEFT_OUT_OF_USR_LIB = ['google-cloud-sdk', 'jvm'];
/** Differences listed per kind; the rest are counted only. */
const EXAMPLES_PER_KIND = 3;

interface TreeUnderTest {
  name: string;
  root: string;
  /** The walk a faithful restore must equal (sockets removed: none of the tools restores them). */
  expected: () => Promise<Walk>;
}

interface Outcome {
  tool: string;
  tree: string;
  entries: number;
  failed: string | null;
  byKind: Map<string, string[]>;
}

function parseOptions() {
  const { values } = parseArgs({
    options: {
      source: { type: 'string' },
      workdir: { type: 'string', default: process.env.CUSTODIA_BENCH_WORKDIR ?? '/tmp/custodia-fidelity' },
      tools: { type: 'string', default: 'custodia,restic,borg' },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write('usage: npm run bench:fidelity -- [--source DIR] [--workdir DIR] [--tools custodia,restic,borg] [--out FILE]\n');
    process.exit(0);
  }
  return { source: values.source ?? null, workdir: path.resolve(values.workdir), tools: values.tools.split(','), out: values.out ?? null };
}

function findRepoRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${start}`);
  }
}

/** The kind of a difference line (`<path>: <kind> …`), e.g. "owner", "xattr", "missing". */
function kindOf(line: string): string {
  const match =
    /: (missing|unexpected|type|mode|owner|size|content sha256|link count|hard-link group|allocated bytes|holes|symlink target|device|xattr|mtime|atime)\b/.exec(
      line,
    );
  return match ? match[1] : 'other';
}

async function realTree(workdir: string, source: string | null): Promise<TreeUnderTest> {
  let root = source;
  if (root === null) {
    root = path.join(workdir, 'usr-lib');
    if (!existsSync(root)) {
      execFileSync('cp', ['-a', '/usr/lib', root]);
      for (const name of LEFT_OUT_OF_USR_LIB) await fs.rm(path.join(root, name), { recursive: true, force: true });
    }
  }
  const resolved = path.resolve(root);
  return {
    name: source === null ? `a copy of /usr/lib (without ${LEFT_OUT_OF_USR_LIB.join(', ')})` : resolved,
    root: resolved,
    expected: async () => {
      const walk = await walkTree(resolved);
      const sockets = [...walk.values()].filter((record) => record.type === 'socket').map((record) => record.path);
      return withoutPaths(walk, sockets);
    },
  };
}

async function fidelityTree(workdir: string): Promise<TreeUnderTest> {
  const root = path.join(workdir, 'fidelity-tree');
  await fs.rm(root, { recursive: true, force: true });
  const tree = await buildFidelityTree(root);
  return { name: 'the fidelity suite tree (every case)', root, expected: async () => expectedRestore(await walkTree(root), tree) };
}

async function runTool(tool: BackupTool, tree: TreeUnderTest, target: string): Promise<Outcome> {
  const outcome: Outcome = { tool: tool.version, tree: tree.name, entries: 0, failed: null, byKind: new Map() };
  const fail = (step: string, stderr: string) => ({
    ...outcome,
    failed: `${step} failed: ${stderr.trim().split('\n').slice(-2).join(' ')}`,
  });
  const init = await tool.init();
  if (init.result.code !== 0) return fail('init', init.result.stderr);
  // The source as the tool will read it: walked just before its backup.
  const expected = await tree.expected();
  outcome.entries = expected.size;
  const backedUp = await tool.backup(tree.root, 'fidelity');
  if (backedUp.result.code !== 0 && backedUp.result.code !== 3 && backedUp.result.code !== 1) return fail('backup', backedUp.result.stderr);
  const restored = await tool.restore(tree.root, target);
  if (restored.result.code !== 0 && !(tool.name === 'borg' && restored.result.code === 1)) {
    // A restore that exits non-zero may still have restored most; the comparison says what.
    outcome.failed = `restore exited ${restored.result.code}: ${restored.result.stderr.trim().split('\n').slice(-1)[0] ?? ''}`;
  }
  const differences = compareWalks(expected, await walkTree(restored.root));
  for (const line of differences) {
    const kind = kindOf(line);
    outcome.byKind.set(kind, [...(outcome.byKind.get(kind) ?? []), line]);
  }
  return outcome;
}

function report(outcomes: Outcome[], command: string): string {
  const lines: string[] = [];
  const cpu = cpus();
  lines.push(`# Restore fidelity, ${new Date().toISOString().slice(0, 10)}`, '');
  lines.push(`- Command: \`${command}\``);
  lines.push(
    `- Machine: ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${cpu.length} cores, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, Linux ${release()}, Node ${process.version}, running as ${process.getuid?.() === 0 ? 'root' : 'a user'}`,
  );
  lines.push('- Each tool with its default options; differences counted by the fidelity walker, by kind.', '');
  for (const tree of [...new Set(outcomes.map((outcome) => outcome.tree))]) {
    const ofTree = outcomes.filter((outcome) => outcome.tree === tree);
    const kinds = [...new Set(ofTree.flatMap((outcome) => [...outcome.byKind.keys()]))].sort();
    lines.push(`## ${tree} (${ofTree[0]?.entries ?? 0} entries)`, '');
    lines.push(`| difference | ${ofTree.map((outcome) => outcome.tool).join(' | ')} |`);
    lines.push(`|---|${ofTree.map(() => '---:').join('|')}|`);
    lines.push(
      `| **all** | ${ofTree.map((outcome) => [...outcome.byKind.values()].reduce((sum, list) => sum + list.length, 0)).join(' | ')} |`,
    );
    for (const kind of kinds) lines.push(`| ${kind} | ${ofTree.map((outcome) => outcome.byKind.get(kind)?.length ?? 0).join(' | ')} |`);
    lines.push('');
    for (const outcome of ofTree) {
      if (outcome.failed) lines.push(`- ${outcome.tool}: ${outcome.failed}`);
      for (const [kind, list] of outcome.byKind) {
        for (const line of list.slice(0, EXAMPLES_PER_KIND)) lines.push(`- ${outcome.tool}, ${kind}: \`${line.replace(/`/g, "'")}\``);
      }
    }
    lines.push('');
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const options = parseOptions();
  const repoRoot = findRepoRoot(__dirname);
  if (!path.relative(repoRoot, options.workdir).startsWith('..'))
    throw new Error(`--workdir ${options.workdir} must be outside the repository`);
  await fs.mkdir(options.workdir, { recursive: true });
  const trees = [await realTree(options.workdir, options.source), await fidelityTree(options.workdir)];
  const outcomes: Outcome[] = [];
  for (const [index, tree] of trees.entries()) {
    const runDir = path.join(options.workdir, `run-${index}`);
    await fs.rm(runDir, { recursive: true, force: true });
    await fs.mkdir(runDir, { recursive: true });
    for (const tool of detectTools(repoRoot, runDir, options.tools, null, (line) => console.log(line))) {
      console.log(`${tool.name}: ${tree.name}`);
      const outcome = await runTool(tool, tree, path.join(runDir, `restored-${tool.name}`));
      outcomes.push(outcome);
      console.log(
        `  ${[...outcome.byKind.values()].reduce((sum, list) => sum + list.length, 0)} difference(s)${outcome.failed ? `; ${outcome.failed}` : ''}`,
      );
    }
    await fs.rm(runDir, { recursive: true, force: true });
  }
  const text = report(outcomes, `npm run bench:fidelity -- ${process.argv.slice(2).join(' ')}`.trim().replace(/ --$/, ''));
  const out = options.out ?? path.join(repoRoot, 'bench', 'results', `fidelity-${new Date().toISOString().slice(0, 10)}.md`);
  await fs.writeFile(out, `${text}\n`);
  console.log(text);
  console.log(`written to ${out}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exit(1);
});
