import { Walk, withoutPaths } from './walker';
import { FidelityTree, isRoot, ROOT_ONLY_CASES } from './tree-builder';

export { compareRecords, compareWalks } from './compare';
export type { CompareOptions } from './compare';
export { buildFidelityTree, FIDELITY_PATHS, isRoot, NAMED_OWNER, OWNER, ROOT_ONLY, ROOT_ONLY_CASES } from './tree-builder';
export type { FidelityTree, RelativePath } from './tree-builder';
export { displayBytes, walkTree, withoutPaths } from './walker';
export type { Walk, WalkRecord } from './walker';

/** What a restore of the tree must hold: everything the source held but its sockets. */
export function expectedRestore(original: Walk, tree: FidelityTree): Walk {
  return asRestoredByThisUser(
    withoutPaths(
      original,
      tree.sockets.map((socket) => socket.toString('hex')),
    ),
  );
}

/**
 * A walk as a restore by this user must reproduce it: as root, unchanged; as anyone else,
 * without setuid and setgid bits, which a restore keeps only when it restores owners (root
 * only), so that no one's setuid program comes back owned by whoever restores it.
 */
export function asRestoredByThisUser(walk: Walk): Walk {
  if (isRoot) return walk;
  return new Map(
    [...walk].map(([key, record]) => [key, { ...record, mode: record.type === 'symlink' ? record.mode : record.mode & ~0o6000 }]),
  );
}

/** The socket paths as a backup reports them: '/'-separated below the source root. */
export function socketProblemPaths(tree: FidelityTree): string[] {
  return tree.sockets.map((socket) => socket.toString('utf8')).sort();
}

/**
 * What the walk of a freshly built tree must show, whoever built it: every case is there with
 * the type it was made as. Returns the lines that are wrong (empty when all is there).
 */
export function missingCases(original: Walk, tree: FidelityTree, paths: Record<string, Buffer>): string[] {
  const rootOnly = new Set<string>(ROOT_ONLY_CASES);
  const out: string[] = [];
  for (const [name, relative] of Object.entries(paths)) {
    if (tree.skipped.length > 0 && rootOnly.has(name)) continue;
    if (!original.has(relative.toString('hex'))) out.push(`${name} (${relative.toString('utf8')}) was not built`);
  }
  return out;
}
