import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DomainError } from '../../domain';

/**
 * Restores may only write into configured folders (RESTORE_ROOTS), so the API cannot be used to
 * overwrite arbitrary files on the server. The check resolves symlinks of the part of the target
 * that exists, and the target must be new or an empty folder.
 */
export class RestoreTargets {
  constructor(private readonly roots: string[]) {}

  async check(target: string): Promise<string> {
    const resolved = path.resolve(target);
    const real = await realpathOfExistingPart(resolved);
    for (const root of this.roots) {
      const realRoot = await realpathOfExistingPart(root);
      if (real !== null && realRoot !== null && isInside(resolved, root) && isInside(real, realRoot)) {
        await assertNewOrEmpty(resolved);
        return resolved;
      }
    }
    throw new DomainError('INVALID_INPUT', `target must be a folder inside ${this.roots.join(' or ')} (RESTORE_ROOTS)`);
  }
}

function isInside(candidate: string, root: string): boolean {
  const relative = path.relative(root, candidate);
  // Only a leading ".." segment leaves the root; a name such as "..archive" is inside it.
  const leaves = relative === '..' || relative.startsWith(`..${path.sep}`);
  return relative !== '' && !leaves && !path.isAbsolute(relative);
}

/**
 * The real path of the longest existing prefix, with the rest appended as given; null if that
 * prefix ends in a dangling symlink, whose destination (where the rest would be created) is
 * unknown here.
 */
async function realpathOfExistingPart(target: string): Promise<string | null> {
  const rest: string[] = [];
  let current = target;
  for (;;) {
    try {
      return path.join(await fs.realpath(current), ...rest.reverse());
    } catch {
      if (await isSymlink(current)) return null;
      const parent = path.dirname(current);
      if (parent === current) return target;
      rest.push(path.basename(current));
      current = parent;
    }
  }
}

async function isSymlink(file: string): Promise<boolean> {
  return fs.lstat(file).then(
    (stats) => stats.isSymbolicLink(),
    () => false,
  );
}

async function assertNewOrEmpty(target: string): Promise<void> {
  try {
    const stats = await fs.lstat(target);
    if (!stats.isDirectory()) throw new DomainError('INVALID_INPUT', 'target exists and is not a folder');
    if ((await fs.readdir(target)).length > 0) throw new DomainError('INVALID_INPUT', 'target folder is not empty');
  } catch (error) {
    if (error instanceof DomainError) throw error;
    // Only a target that does not exist yet is new; ENOTDIR (a file on the way), EACCES and the
    // like would only make the restore fail later, in the worker.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new DomainError('INVALID_INPUT', 'target cannot be created: a part of its path is not a readable folder');
    }
  }
}

export function assertSafeIncludes(include: string[]): string[] {
  for (const item of include) {
    const parts = item.split('/').filter((part) => part !== '' && part !== '.');
    if (parts.includes('..') || item.includes('\0')) throw new DomainError('INVALID_INPUT', 'include paths must not contain ".."');
  }
  return include;
}
