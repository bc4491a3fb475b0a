import { constants, promises as fs } from 'node:fs';
import { SourcePathProblem, SourcePaths } from '../../application/ports/source-paths';
import { PathConfinement } from './path-confinement';

/** Checks source folders on this machine's file system, then the confinement rules on their real paths. */
export class NodeSourcePaths implements SourcePaths {
  constructor(private readonly confinement: PathConfinement) {}

  async problemWith(path: string): Promise<SourcePathProblem | null> {
    if (!path.startsWith('/')) return invalid('must be absolute');
    try {
      const stats = await fs.stat(path);
      if (!stats.isDirectory()) return invalid('is not a directory');
      await fs.access(path, constants.R_OK | constants.X_OK);
    } catch {
      return invalid('does not exist or cannot be read');
    }
    const refusal = await this.confinement.sourceProblem(path);
    return refusal === null ? null : { code: refusal.code, message: `path refused, ${refusal.message}` };
  }
}

function invalid(problem: string): SourcePathProblem {
  return { code: 'INVALID_INPUT', message: `path ${problem}` };
}
