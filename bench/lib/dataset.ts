import { existsSync, promises as fs, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { runCommand } from './process';

/** The summary make-dataset.sh prints and saves as DIR.info.json. */
export interface DatasetInfo {
  outDir: string;
  seed: string;
  requested: number;
  totalBytes: number;
  files: number;
  dirs: number;
}

export const DATASET_SEED = 'bench-v1';

/** SIZE as make-dataset.sh reads it: K/M/G/T suffixes in binary units. */
export function parseSize(size: string): number {
  const match = /^(\d+(?:\.\d+)?)([KMGT]?)(i?B)?$/i.exec(size.trim());
  if (!match) throw new Error(`bad size: ${size} (expected e.g. 256M or 1G)`);
  const multiplier: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };
  return Math.round(parseFloat(match[1]) * multiplier[match[2].toUpperCase()]);
}

/** Regular files and their total size under `root` (symlinks are not followed). */
export async function treeTotals(root: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
      const absolute = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(absolute);
      else if (entry.isFile()) {
        files++;
        bytes += (await fs.lstat(absolute)).size;
      }
    }
  };
  await walk(root);
  return { files, bytes };
}

function readInfo(file: string): DatasetInfo | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as DatasetInfo;
  } catch {
    return null;
  }
}

/**
 * The pristine day-0 data set for `size` under `workdir`, generated with the shared script
 * unless an identical one (same size and seed per its .info.json, same file count and bytes on
 * disk) is there already. The generator is deterministic, so reuse gives the same tree.
 */
export async function ensureDataset(
  sharedBench: string,
  workdir: string,
  size: string,
  log: (line: string) => void,
): Promise<{ dir: string; info: DatasetInfo; reused: boolean }> {
  const dir = path.join(workdir, `dataset-${size}`);
  const infoFile = `${dir}.info.json`;
  const requested = parseSize(size);
  const existing = readInfo(infoFile);
  if (existing && existing.requested === requested && existing.seed === DATASET_SEED && existsSync(dir)) {
    const totals = await treeTotals(dir);
    if (totals.files === existing.files && totals.bytes === existing.totalBytes) return { dir, info: existing, reused: true };
    log(`data set ${dir} does not match its .info.json (${totals.files} files, ${totals.bytes} bytes); regenerating`);
  }
  await fs.rm(dir, { recursive: true, force: true });
  await fs.rm(infoFile, { force: true });
  await fs.mkdir(workdir, { recursive: true });
  log(`generating a ${size} data set in ${dir} ...`);
  const result = await runCommand(path.join(sharedBench, 'make-dataset.sh'), [dir, size, DATASET_SEED]);
  log(`generated in ${result.seconds.toFixed(1)} s`);
  const info = readInfo(infoFile);
  if (!info) throw new Error(`make-dataset.sh did not write ${infoFile}`);
  return { dir, info, reused: false };
}

/**
 * Compares a restored tree with the source: `diff -r` for names and content, then an lstat
 * walk for file modes and modification times (to the second, which every tool keeps).
 * Returns a list of problems, empty when the trees match.
 */
export async function compareTrees(source: string, restored: string): Promise<string[]> {
  const problems: string[] = [];
  const diff = await runCommand('diff', ['-rq', '--no-dereference', source, restored], { okCodes: [0, 1, 2] });
  if (diff.code !== 0) problems.push(...(diff.stdout + diff.stderr).trim().split('\n').slice(0, 5));
  const walk = async (relative: string): Promise<void> => {
    for (const entry of await fs.readdir(path.join(source, relative), { withFileTypes: true })) {
      const rel = path.join(relative, entry.name);
      if (entry.isDirectory()) {
        await walk(rel);
        continue;
      }
      const [a, b] = await Promise.all([fs.lstat(path.join(source, rel)), fs.lstat(path.join(restored, rel)).catch(() => null)]);
      if (!b) continue; // reported by diff
      if ((a.mode & 0o7777) !== (b.mode & 0o7777)) problems.push(`mode of ${rel}: ${a.mode.toString(8)} vs ${b.mode.toString(8)}`);
      if (Math.floor(a.mtimeMs / 1000) !== Math.floor(b.mtimeMs / 1000)) {
        problems.push(`mtime of ${rel}: ${a.mtime.toISOString()} vs ${b.mtime.toISOString()}`);
      }
      if (problems.length > 10) return;
    }
  };
  await walk('');
  return problems;
}
