import { EngineError } from '../errors';
import { assertLegalName, FileName, fsName, nameKey } from '../file-names';
import { TreeEntry } from '../repository/format';
import { assertWellFormedEntry } from './entry-rules';
import { Repository } from '../repository/repository';
import { SubjectKeyRing } from '../subjects/key-ring';
import { isSealedEntry, openSealedEntry } from '../subjects/sealed-entry';

/** One entry to restore, at a path relative to the target that has been checked to be safe. */
export interface PlannedEntry {
  /** For messages and --include: '/'-separated, names that are not UTF-8 escaped. */
  relativePath: string;
  /** The exact names from the target down to the entry, as the fs calls take them. */
  names: FileName[];
  entry: TreeEntry;
}

/** What a restore left out because the data subjects it belongs to were erased (keys shredded). */
export interface ErasedCounts {
  /** Sealed entries (a subject's folder or file in one snapshot folder) that could not be opened. */
  entries: number;
  /** Regular files in them, and their bytes (the sealed entries' clear counts). */
  files: number;
  bytes: number;
  /** Distinct data subjects. */
  subjects: number;
}

export interface RestorePlan {
  entries: PlannedEntry[];
  skippedErased: ErasedCounts;
  /** Sealed entries that cannot be opened although they were not erased (lost key, damage). */
  errors: { path: string; message: string }[];
}

export interface PlanOptions {
  /** The operation's subject keys. */
  keys: SubjectKeyRing;
  /** Restore only this data subject's entries (by pseudonym), and the folders leading to them. */
  onlySubject?: string;
}

/**
 * Walks a snapshot's trees and lists what to restore, parents before children. Every name is
 * checked before anything is written: a manifest holding "..", "/", an empty name, a NUL byte
 * or the same name twice could otherwise steer a write outside the target or lose a file, so
 * the whole restore is refused. Check and verify run this same walk, so a snapshot a restore
 * would refuse is never reported healthy.
 * Sealed entries are opened with their subject's key; those of erased subjects are counted and
 * left out, those whose key is lost are reported.
 */
export async function planRestore(
  repository: Repository,
  rootTree: string,
  includes: string[],
  options: PlanOptions,
): Promise<RestorePlan> {
  const { keys, onlySubject } = options;
  const wanted = includes.map(normaliseInclude);
  const planned: PlannedEntry[] = [];
  const errors: RestorePlan['errors'] = [];
  const erased = { entries: 0, files: 0, bytes: 0, subjects: new Set<string>() };
  const matchedIncludes = new Set<string>();
  let unopenedOnTheWay = false;
  const visit = async (treeId: string, prefix: string[], names: FileName[], subject: string | null): Promise<void> => {
    const tree = await repository.readTree(treeId, keys);
    // Entries of an erased subject here are restored (or counted) only if this folder is wanted whole.
    const folderWanted = selection(prefix, wanted) === 'all';
    const seen = new Set<string>();
    for (const stored of tree.entries) {
      let entry: TreeEntry;
      let entrySubject = subject;
      if (isSealedEntry(stored)) {
        if (onlySubject !== undefined && stored.subject !== onlySubject) continue;
        const opened = await openSealedEntry(keys, stored);
        if (opened.status !== 'open') {
          if (!folderWanted) unopenedOnTheWay = true;
          else if (opened.status === 'shredded') {
            erased.entries++;
            erased.files += Number(stored.files) || 0;
            erased.bytes += Number(stored.bytes) || 0;
            erased.subjects.add(String(stored.subject));
          } else {
            const why = opened.status === 'missing' ? 'its key is missing, and no tombstone says it was erased' : opened.reason;
            errors.push({
              path: [...prefix, `<sealed entry of subject ${String(stored.subject).slice(0, 12)}>`].join('/'),
              message: `cannot open the sealed entry (${stored.files} file(s), ${stored.bytes} bytes): ${why}`,
            });
          }
          continue;
        }
        entry = opened.entry;
        entrySubject = stored.subject;
      } else {
        entry = stored;
      }
      assertLegalName(entry, prefix.length ? ` in "${prefix.join('/')}"` : '');
      assertWellFormedEntry(entry, [...prefix, entry.name].join('/'));
      const key = nameKey(entry);
      if (seen.has(key)) {
        throw new EngineError('UNSAFE_PATH', `snapshot manifest lists "${[...prefix, entry.name].join('/')}" twice; refusing to restore`);
      }
      seen.add(key);
      const parts = [...prefix, entry.name];
      const entryNames = [...names, fsName(entry)];
      const relativePath = parts.join('/');
      const selected = selection(parts, wanted);
      if (selected === 'none') continue;
      if (wanted.some((include) => include.join('/') === relativePath)) matchedIncludes.add(relativePath);
      if (onlySubject !== undefined && entrySubject === null) {
        // Outside the subject's entries only folders are restored, and only those leading to them.
        if (entry.type !== 'dir') continue;
        const mark = planned.length;
        planned.push({ relativePath, names: entryNames, entry });
        await visit(entry.subtree, parts, entryNames, null);
        if (planned.length === mark + 1) planned.pop();
        continue;
      }
      // A directory on the way to an included path is created; only its selected children are restored.
      if (selected === 'all' || entry.type === 'dir') planned.push({ relativePath, names: entryNames, entry });
      if (entry.type === 'dir') await visit(entry.subtree, parts, entryNames, entrySubject);
    }
  };
  await visit(rootTree, [], [], null);
  // A typo in --include would otherwise restore nothing and report success.
  const unmatched = wanted.filter((include) => !matchedIncludes.has(include.join('/')));
  if (unmatched.length > 0) {
    const sealed = unopenedOnTheWay ? ' (or it lies inside data of an erased subject, whose names cannot be read)' : '';
    throw new EngineError(
      'INVALID_ARGUMENT',
      `--include ${unmatched.map((parts) => parts.join('/')).join(', ')}: no such path in the snapshot${sealed}`,
    );
  }
  return {
    entries: planned,
    skippedErased: { entries: erased.entries, files: erased.files, bytes: erased.bytes, subjects: erased.subjects.size },
    errors,
  };
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
