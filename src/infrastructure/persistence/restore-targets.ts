import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ReadModel } from '../../application/projections/read-model';
import type { RestoreTargetGate } from '../../application/ports/restore-target-gate';
import { overlaps } from '../../application/source-confinement';
import { DomainError } from '../../domain';
import { PathConfinement, realpathOfExistingPart } from './path-confinement';

/**
 * Restores may only write into configured folders (RESTORE_ROOTS), so the API cannot be used to
 * overwrite arbitrary files on the server. The check resolves symlinks of the part of the target
 * that exists, and the target must be new or an empty folder. It must also keep clear of the
 * targets of restores still open (two restores writing into one tree would mix their files) and
 * of registered sources (a restore would write into data that is backed up).
 */
export class RestoreTargets implements RestoreTargetGate {
  /** Restores accepted here that the restore history does not show yet: id → resolved target. */
  private readonly accepted = new Map<string, string>();
  /** Checking and recording one request at a time, so two overlapping requests cannot both pass. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly confinement: PathConfinement,
    private readonly roots: string[],
    private readonly db: ReadModel,
  ) {}

  /**
   * Checks the target, then runs `record` (which stores RestoreRequested) before the next
   * request is checked; a target accepted here counts as open from then on.
   */
  accept<T>(target: string, restoreId: string, record: (target: string) => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      const resolved = await this.check(target);
      const result = await record(resolved);
      this.accepted.set(restoreId, resolved);
      return result;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async check(target: string): Promise<string> {
    const resolved = path.resolve(target);
    if ((await this.confinement.restoreRootOf(resolved)) === null) {
      throw new DomainError('INVALID_INPUT', `target must be a folder inside ${this.roots.join(' or ')} (RESTORE_ROOTS)`);
    }
    await assertNewOrEmpty(resolved);
    const spellings = await spellingsOf(resolved);
    const sources = await this.db.selectFrom('sources').select('path').where('status', '!=', 'removed').execute();
    for (const source of sources) {
      if (overlapsAny(spellings, await spellingsOf(source.path))) {
        throw new DomainError(
          'TARGET_IN_SOURCE',
          'target is inside, or holds, a registered source: a restore must not write into backed-up data',
        );
      }
    }
    for (const other of await this.openTargets()) {
      if (overlapsAny(spellings, await spellingsOf(other))) {
        throw new DomainError('TARGET_IN_USE', 'target is inside, or holds, the target of a restore still requested or running');
      }
    }
    return resolved;
  }

  /** Targets of restores requested or running: the restore history, and those accepted here it does not show yet. */
  private async openTargets(): Promise<string[]> {
    const open = await this.db.selectFrom('restores').select('target').where('status', 'in', ['requested', 'running']).execute();
    if (this.accepted.size > 0) {
      const shown = await this.db
        .selectFrom('restores')
        .select('id')
        .where('id', 'in', [...this.accepted.keys()])
        .execute();
      for (const row of shown) this.accepted.delete(row.id);
    }
    return [...open.map((row) => row.target), ...this.accepted.values()];
  }
}

/** A path as given (absolute) and as resolved so far as it exists. */
async function spellingsOf(given: string): Promise<string[]> {
  const resolved = path.resolve(given);
  const real = await realpathOfExistingPart(resolved);
  return real === null || real === resolved ? [resolved] : [resolved, real];
}

function overlapsAny(a: string[], b: string[]): boolean {
  return a.some((x) => b.some((y) => overlaps(x, y)));
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
