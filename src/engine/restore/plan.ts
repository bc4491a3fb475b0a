import { EngineError } from '../errors';
import { TreeEntry } from '../repository/format';
import { Repository } from '../repository/repository';

/** One entry to restore, at a path relative to the target that has been checked to be safe. */
export interface PlannedEntry {
  relativePath: string;
  entry: TreeEntry;
}

/**
 * Walks a snapshot's trees and lists what to restore, parents before children. Every name is
 * checked before anything is written: a manifest holding "..", "/", an empty name or a NUL
 * byte could otherwise steer a write outside the target, so the whole restore is refused.
 */
export async function planRestore(repository: Repository, rootTree: string, includes: string[]): Promise<PlannedEntry[]> {
  const wanted = includes.map(normaliseInclude);
  const planned: PlannedEntry[] = [];
  const visit = async (treeId: string, prefix: string[]): Promise<void> => {
    const tree = await repository.readTree(treeId);
    const seen = new Set<string>();
    for (const entry of tree.entries) {
      assertSafeName(entry.name, prefix);
      if (seen.has(entry.name)) {
        throw new EngineError('UNSAFE_PATH', `snapshot manifest lists "${[...prefix, entry.name].join('/')}" twice; refusing to restore`);
      }
      seen.add(entry.name);
      const parts = [...prefix, entry.name];
      const selected = selection(parts, wanted);
      if (selected === 'none') continue;
      // A directory on the way to an included path is created; only its selected children are restored.
      if (selected === 'all' || entry.type === 'dir') planned.push({ relativePath: parts.join('/'), entry });
      if (entry.type === 'dir') await visit(entry.subtree, parts);
    }
  };
  await visit(rootTree, []);
  // A typo in --include would otherwise restore nothing and report success.
  const unmatched = wanted.filter((include) => !planned.some((item) => item.relativePath === include.join('/')));
  if (unmatched.length > 0) {
    throw new EngineError(
      'INVALID_ARGUMENT',
      `--include ${unmatched.map((parts) => parts.join('/')).join(', ')}: no such path in the snapshot`,
    );
  }
  return planned;
}

function assertSafeName(name: unknown, prefix: string[]): void {
  if (
    typeof name !== 'string' ||
    name === '' ||
    name === '.' ||
    name === '..' ||
    name.includes('/') ||
    name.includes('\\') ||
    name.includes('\0')
  ) {
    const where = prefix.length ? ` in "${prefix.join('/')}"` : '';
    throw new EngineError('UNSAFE_PATH', `snapshot manifest holds an unsafe name ${JSON.stringify(name)}${where}; refusing to restore`);
  }
}

function normaliseInclude(include: string): string[] {
  const parts = include.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) throw new EngineError('INVALID_ARGUMENT', `--include ${include} must not contain ".."`);
  return parts;
}

/** 'all': the path is included (or inside an include); 'ancestor': it leads to one; 'none'. */
function selection(parts: string[], includes: string[][]): 'all' | 'ancestor' | 'none' {
  if (includes.length === 0) return 'all';
  let ancestor = false;
  for (const include of includes) {
    const common = Math.min(include.length, parts.length);
    let matches = true;
    for (let i = 0; i < common; i++) if (include[i] !== parts[i]) matches = false;
    if (!matches) continue;
    if (parts.length >= include.length) return 'all';
    ancestor = true;
  }
  return ancestor ? 'ancestor' : 'none';
}
