import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * Temporary folders under os.tmpdir(), removed after the spec file's tests have run. Call it at
 * the top of a describe block; the returned function makes a new folder each time.
 */
export function useTempDirs(): (label?: string) => Promise<string> {
  const created: string[] = [];
  afterAll(async () => {
    for (const dir of created.splice(0)) await removeTree(dir);
  });
  return async (label = 'test') => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), `custodia-${label}-`));
    created.push(dir);
    return dir;
  };
}

/** rm -rf that also copes with folders a test made unwritable (mode 0o555 or 0o000). */
export async function removeTree(dir: string): Promise<void> {
  try {
    await fs.rm(dir, { recursive: true, force: true });
  } catch {
    await makeWritable(dir);
    await fs.rm(dir, { recursive: true, force: true });
  }
}

async function makeWritable(dir: string): Promise<void> {
  await fs.chmod(dir, 0o700).catch(() => undefined);
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (entry.isDirectory()) await makeWritable(path.join(dir, entry.name));
  }
}

export async function exists(file: string): Promise<boolean> {
  return fs.lstat(file).then(
    () => true,
    () => false,
  );
}

/** Every path below `root`, relative and '/'-separated, sorted; symlinks are not followed. */
export async function listRelative(root: string): Promise<string[]> {
  const entries = await fs.readdir(root, { recursive: true, withFileTypes: true });
  return entries.map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)).split(path.sep).join('/')).sort();
}
