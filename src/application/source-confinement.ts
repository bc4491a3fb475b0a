import * as path from 'node:path';

/**
 * Where a source may not be, given as absolute paths. The caller resolves symlinks first (of the
 * source, and of each protected path as far as it exists) and may list a path twice, as given
 * and as resolved, so that neither spelling slips through.
 */
export interface ProtectedPaths {
  /** DATA_DIR: the read model (audit trail included), the event log, generated keys. */
  dataDirs: string[];
  /** The repository, when it is a folder (STORAGE=fs). */
  repositories: string[];
  /** Key and secret files: the repository key, the pseudonym secret, CUSTODIA_API_TOKENS_FILE. */
  secretFiles: string[];
  /** RESTORE_ROOTS: a source there would back up restored copies, or be overwritten by them. */
  restoreRoots: string[];
  /** SOURCE_ROOTS; null: not set, so a source may be anywhere the other rules allow. */
  sourceRoots: string[] | null;
}

export type ConfinementRule = 'root folder' | 'system folder' | 'service data' | 'restore root' | 'outside SOURCE_ROOTS';

export interface ConfinementRefusal {
  code: 'SOURCE_FORBIDDEN';
  rule: ConfinementRule;
  message: string;
}

/** Kernel interfaces: reading them backs up device contents and process memory maps, or never ends. */
export const SYSTEM_FOLDERS = ['/proc', '/sys', '/dev'] as const;

/**
 * Whether a folder may be a source: the one rule the API (at registration) and the worker (when
 * each backup job starts) both apply, to the folder's real path. A source may not be `/`, a
 * kernel interface, the service's own data (DATA_DIR, the repository, a key or secret file),
 * nor a restore root, whether equal to, inside or containing them; with SOURCE_ROOTS set it
 * must be one of those folders or inside one. null: allowed.
 */
export function sourceConfinementProblem(realSource: string, paths: ProtectedPaths): ConfinementRefusal | null {
  const source = path.posix.normalize(realSource);
  // A programming error, not a refusal: callers judge resolved (real, so absolute) paths.
  if (!path.posix.isAbsolute(source)) throw new Error('source confinement needs an absolute, resolved path');
  if (source === '/') return refuse('root folder', 'path is the root folder "/": a source must be a folder of data, not the machine');
  if (SYSTEM_FOLDERS.some((folder) => within(source, folder))) {
    return refuse('system folder', `path is inside ${SYSTEM_FOLDERS.join(', ')}: kernel interfaces are not data to back up`);
  }
  if ([...paths.dataDirs, ...paths.repositories, ...paths.secretFiles].some((protectedPath) => overlaps(source, protectedPath))) {
    return refuse(
      'service data',
      "path is, holds or lies inside the service's own data (DATA_DIR, the repository or a key or secret file): " +
        'backing it up would copy the audit trail, the keys and the pseudonym secret',
    );
  }
  if (paths.restoreRoots.some((root) => overlaps(source, root))) {
    return refuse('restore root', 'path is, holds or lies inside a restore root (RESTORE_ROOTS): restores would write into the source');
  }
  if (paths.sourceRoots !== null && !paths.sourceRoots.some((root) => within(source, root))) {
    return refuse('outside SOURCE_ROOTS', `path is not inside ${paths.sourceRoots.join(' or ')} (SOURCE_ROOTS)`);
  }
  return null;
}

function refuse(rule: ConfinementRule, message: string): ConfinementRefusal {
  return { code: 'SOURCE_FORBIDDEN', rule, message: `${rule}: ${message}` };
}

/** `candidate` is `folder` or lies inside it (by path segments: /srv/data2 is not inside /srv/data). */
export function within(candidate: string, folder: string): boolean {
  const relative = path.posix.relative(path.posix.normalize(folder), path.posix.normalize(candidate));
  return relative === '' || (relative !== '..' && !relative.startsWith('../') && !path.posix.isAbsolute(relative));
}

/** One of the two paths is the other or lies inside it. */
export function overlaps(a: string, b: string): boolean {
  return within(a, b) || within(b, a);
}
