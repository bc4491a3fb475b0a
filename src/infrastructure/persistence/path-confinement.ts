import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ConfinementRefusal, ProtectedPaths, sourceConfinementProblem, within } from '../../application/source-confinement';
import { Configuration, generatedKeyFiles } from '../config/configuration';

/** What the confinement rules protect, as configured (paths as given, absolute). */
export interface ConfinementSettings {
  dataDir: string;
  /** The repository folder; null when it is not a folder (S3). */
  repository: string | null;
  secretFiles: string[];
  restoreRoots: string[];
  sourceRoots: string[] | null;
}

export function confinementSettings(config: Configuration): ConfinementSettings {
  return {
    dataDir: config.dataDir,
    repository: config.storage === 'fs' ? config.repositoryLocation : null,
    secretFiles: [...generatedKeyFiles(config.dataDir), ...(config.apiTokensFile === null ? [] : [config.apiTokensFile])],
    restoreRoots: config.restoreRoots,
    sourceRoots: config.sourceRoots,
  };
}

/**
 * The confinement rules applied to this machine's file system: symlinks are resolved (of the
 * source, and of each protected path as far as it exists) before the pure rule decides. The API
 * asks when a source is registered or a restore requested, the worker again when a job starts,
 * since a folder may have been swapped for a symlink in between.
 */
export class PathConfinement {
  constructor(private readonly settings: ConfinementSettings) {}

  static of(config: Configuration): PathConfinement {
    return new PathConfinement(confinementSettings(config));
  }

  /**
   * null if the folder may be a source. A source that does not resolve (missing, unreadable) is
   * not refused here: registration checks that it is a readable folder, and a backup of a
   * missing folder fails with SOURCE_NOT_FOUND.
   */
  async sourceProblem(source: string): Promise<ConfinementRefusal | null> {
    let real: string;
    try {
      real = await fs.realpath(source);
    } catch {
      return null;
    }
    return sourceConfinementProblem(real, await this.protectedPaths());
  }

  /**
   * The restore root (as configured) the target lies inside, both as written and once the part
   * of it that exists is resolved; null when none holds it, or when a dangling symlink on its way
   * hides where it would end up.
   */
  async restoreRootOf(target: string): Promise<string | null> {
    const resolved = path.resolve(target);
    const real = await realpathOfExistingPart(resolved);
    if (real === null) return null;
    for (const root of this.settings.restoreRoots) {
      const realRoot = await realpathOfExistingPart(root);
      if (realRoot !== null && strictlyInside(resolved, root) && strictlyInside(real, realRoot)) return root;
    }
    return null;
  }

  private async protectedPaths(): Promise<ProtectedPaths> {
    const both = async (paths: string[]) => {
      const out = new Set<string>();
      for (const given of paths) {
        out.add(path.resolve(given));
        const real = await realpathOfExistingPart(path.resolve(given));
        if (real !== null) out.add(real);
      }
      return [...out];
    };
    const { settings } = this;
    return {
      dataDirs: await both([settings.dataDir]),
      repositories: await both(settings.repository === null ? [] : [settings.repository]),
      secretFiles: await both(settings.secretFiles),
      restoreRoots: await both(settings.restoreRoots),
      // A source must lie inside a root by its real path: only the roots' real paths count.
      sourceRoots:
        settings.sourceRoots === null
          ? null
          : await Promise.all(settings.sourceRoots.map(async (root) => (await realpathOfExistingPart(root)) ?? root)),
    };
  }
}

function strictlyInside(candidate: string, root: string): boolean {
  return path.resolve(candidate) !== path.resolve(root) && within(candidate, root);
}

/**
 * The real path of the longest existing prefix, with the rest appended as given; null if that
 * prefix ends in a dangling symlink, whose destination (where the rest would be created) is
 * unknown here.
 */
export async function realpathOfExistingPart(target: string): Promise<string | null> {
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
