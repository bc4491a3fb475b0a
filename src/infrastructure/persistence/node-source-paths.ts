import { constants, promises as fs } from 'node:fs';
import { SourcePaths } from '../../application/ports/source-paths';

/** Checks source folders on this machine's file system. */
export class NodeSourcePaths implements SourcePaths {
  async problemWith(path: string): Promise<string | null> {
    if (!path.startsWith('/')) return 'must be absolute';
    try {
      const stats = await fs.stat(path);
      if (!stats.isDirectory()) return 'is not a directory';
      await fs.access(path, constants.R_OK | constants.X_OK);
      return null;
    } catch {
      return 'does not exist or cannot be read';
    }
  }
}
