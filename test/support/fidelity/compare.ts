import { Walk, WalkRecord } from './walker';

export interface CompareOptions {
  /** Compare uid and gid (default true). */
  owners?: boolean;
  /**
   * Compare atimes (default true), but not folders': format 3 does not keep them (listing a
   * folder, as every backup does, changes its atime), so a restored folder's atime is its mtime.
   */
  atimes?: boolean;
  /**
   * How many bytes more than the original a restored sparse file may have allocated (file
   * systems round allocations); default 1 MiB, far below the sizes of the sparse files.
   */
  sparseSlackBytes?: number;
}

const octal = (mode: number) => mode.toString(8).padStart(4, '0');
const show = (value: unknown) => JSON.stringify(value);

/**
 * The differences between two walks as lines a person can act on (empty when identical):
 * entries missing or unexpected, then per entry every field that differs, with both values.
 */
export function compareWalks(expected: Walk, actual: Walk, options: CompareOptions = {}): string[] {
  const differences: string[] = [];
  for (const [key, want] of expected) {
    const got = actual.get(key);
    if (!got) differences.push(`${want.display}: missing (a ${want.type})`);
    else differences.push(...compareRecords(want, got, options));
  }
  for (const [key, got] of actual) if (!expected.has(key)) differences.push(`${got.display}: unexpected (a ${got.type})`);
  return differences;
}

export function compareRecords(want: WalkRecord, got: WalkRecord, options: CompareOptions = {}): string[] {
  const out: string[] = [];
  const differ = (field: string, gotValue: string, wantValue: string) =>
    out.push(`${want.display}: ${field} ${gotValue}, expected ${wantValue}`);
  if (got.type !== want.type) {
    differ('type', got.type, want.type);
    return out;
  }
  // Linux gives every symlink mode 0777 and ignores it.
  if (want.type !== 'symlink' && got.mode !== want.mode) differ('mode', octal(got.mode), octal(want.mode));
  if (options.owners !== false && (got.uid !== want.uid || got.gid !== want.gid)) {
    differ('owner', `${got.uid}:${got.gid}`, `${want.uid}:${want.gid}`);
  }
  if (want.type === 'file') {
    if (got.size !== want.size) differ('size', String(got.size), String(want.size));
    if (got.sha256 !== want.sha256) differ('content sha256', String(got.sha256), String(want.sha256));
    if (got.nlink !== want.nlink) differ('link count', String(got.nlink), String(want.nlink));
    if (show(got.linkGroup ?? null) !== show(want.linkGroup ?? null))
      differ('hard-link group', show(got.linkGroup ?? null), show(want.linkGroup ?? null));
    if (want.sparse) {
      const slack = options.sparseSlackBytes ?? 1024 * 1024;
      if (got.blocks * 512 > want.blocks * 512 + slack) {
        differ(
          'allocated bytes',
          String(got.blocks * 512),
          `at most ${want.blocks * 512} + ${slack} (a sparse file of ${want.size} bytes)`,
        );
      }
      if (!got.sparse) differ('holes', 'none', 'some (a sparse file)');
    }
  }
  if (want.type === 'symlink' && got.target !== want.target) {
    differ('symlink target (hex)', String(got.target), String(want.target));
  }
  if ((want.type === 'chardev' || want.type === 'blockdev') && got.rdev !== want.rdev)
    differ('device', String(got.rdev), String(want.rdev));
  if (want.xattrs !== null) {
    const names = [...new Set([...Object.keys(want.xattrs), ...Object.keys(got.xattrs ?? {})])].sort();
    for (const name of names) {
      const wantValue = want.xattrs[name];
      const gotValue = got.xattrs?.[name];
      if (wantValue === gotValue) continue;
      if (gotValue === undefined) out.push(`${want.display}: xattr ${name} missing (expected base64 ${wantValue})`);
      else if (wantValue === undefined) out.push(`${want.display}: xattr ${name} unexpected (base64 ${gotValue})`);
      else differ(`xattr ${name} (base64)`, gotValue, wantValue);
    }
  }
  if (got.mtimeNs !== want.mtimeNs) differ('mtime', `${got.mtimeNs} ns`, `${want.mtimeNs} ns`);
  if (options.atimes !== false && want.type !== 'dir' && got.atimeNs !== want.atimeNs) {
    differ('atime', `${got.atimeNs} ns`, `${want.atimeNs} ns`);
  }
  return out;
}
