import { spawnSync } from 'node:child_process';
import { constants as fsConstants, promises as fs } from 'node:fs';
import { setAttributeSync } from '@napi-rs/xattr';
import { nativeFs } from '../../../src/engine/platform/native-fs';
import { pseudoRandomBytes } from '../tree';

/**
 * Builds, in a given folder, one tree holding every case a restore must bring back exactly on
 * Linux (issue 10, "fidelity"). Run as root (CI is root), it builds them all; run as another
 * user it leaves out the cases only root can make, and says which in `FidelityTree.skipped`.
 *
 * Paths below are bytes: a name need not be UTF-8. Helpers take `RelativePath`s, '/'-joined
 * Buffers relative to the tree's root.
 */

export const GiB = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;
const AT_FDCWD = -100;

/** The owner of the owned cases; neither id has a name on a CI machine. */
export const OWNER = { uid: 1234, gid: 5678 };
/** A second owner that does have names (daemon:daemon on Debian and Ubuntu), for names in the snapshot. */
export const NAMED_OWNER = { uid: 1, gid: 1 };

export const isRoot = process.getuid?.() === 0;

/** Linux's dev_t from major and minor, as glibc's makedev (and fs.Stats.rdev) have it. */
export function makeDev(major: number, minor: number): number {
  return Number(
    ((BigInt(major) & 0xfffff000n) << 32n) |
      ((BigInt(major) & 0xfffn) << 8n) |
      ((BigInt(minor) & 0xffffff00n) << 12n) |
      (BigInt(minor) & 0xffn),
  );
}

export function majorMinor(rdev: number | bigint): string {
  const dev = BigInt(rdev);
  const major = ((dev >> 32n) & 0xfffff000n) | ((dev >> 8n) & 0xfffn);
  const minor = ((dev >> 12n) & 0xffffff00n) | (dev & 0xffn);
  return `${major}:${minor}`;
}

export const CHAR_DEVICE = { major: 240, minor: 300 };
export const BLOCK_DEVICE = { major: 241, minor: 5 };

/**
 * A POSIX ACL as Linux stores it in `system.posix_acl_access` / `system.posix_acl_default`:
 * a little-endian u32 version (2), then per entry u16 tag, u16 permissions (r=4 w=2 x=1) and
 * u32 id (only for USER and GROUP entries; 0xffffffff otherwise), sorted by tag then id.
 */
export function posixAcl(entries: { tag: 'user_obj' | 'user' | 'group_obj' | 'group' | 'mask' | 'other'; perm: number; id?: number }[]) {
  const tags = { user_obj: 0x01, user: 0x02, group_obj: 0x04, group: 0x08, mask: 0x10, other: 0x20 };
  const sorted = [...entries].sort((a, b) => tags[a.tag] - tags[b.tag] || (a.id ?? 0) - (b.id ?? 0));
  const buffer = Buffer.alloc(4 + 8 * sorted.length);
  buffer.writeUInt32LE(2, 0);
  sorted.forEach((entry, i) => {
    buffer.writeUInt16LE(tags[entry.tag], 4 + 8 * i);
    buffer.writeUInt16LE(entry.perm, 6 + 8 * i);
    buffer.writeUInt32LE(entry.id ?? 0xffffffff, 8 + 8 * i);
  });
  return buffer;
}

/**
 * `security.capability` granting cap_net_raw (bit 13), permitted and effective: what
 * `setcap cap_net_raw+ep` writes (VFS_CAP_REVISION_2: magic|effective, then permitted and
 * inheritable for capabilities 0-31 and 32-63).
 */
export const NET_RAW_CAPABILITY = (() => {
  const buffer = Buffer.alloc(20);
  buffer.writeUInt32LE(0x02000000 | 0x1, 0);
  buffer.writeUInt32LE(1 << 13, 4);
  return buffer;
})();

/** Every byte value once: an xattr value no text encoding survives. */
const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

export type RelativePath = Buffer;
const b = (text: string): Buffer => Buffer.from(text, 'utf8');
const rel = (...parts: (string | Buffer)[]): RelativePath =>
  Buffer.concat(parts.flatMap((part, i) => [...(i > 0 ? [b('/')] : []), typeof part === 'string' ? b(part) : part]));

/** The names of the tree's special cases, relative to its root. */
export const FIDELITY_PATHS = {
  backslash: rel('back\\slash.txt'),
  /** Spelled like the escaped display form of `latin1`'s name: the two must stay two files. */
  escapeLookalike: rel('caf\\xe9.txt'),
  newline: rel('new\nline.txt'),
  latin1: rel(Buffer.from('caf\xe9.txt', 'latin1')),
  invalidUtf8: rel(Buffer.from([0xff, 0xfe, 0x2d, 0x80, 0xc0, 0xaf])),
  invalidUtf8Dir: rel(Buffer.from([0x64, 0x69, 0x72, 0xe9])),
  invalidUtf8Nested: rel(Buffer.from([0x64, 0x69, 0x72, 0xe9]), Buffer.from([0x6e, 0x65, 0x73, 0x74, 0x65, 0x64, 0xff])),
  rawTargetLink: rel('raw-target-link'),
  longAscii: rel(`${'n'.repeat(251)}.txt`),
  longUtf8: rel(`${'é'.repeat(127)}x`),
  ownedFile: rel('owned-file'),
  ownedDir: rel('owned-dir'),
  ownedLink: rel('owned-link'),
  namedOwner: rel('named-owner'),
  xattrFile: rel('xattrs.txt'),
  xattrDir: rel('xattr-dir'),
  xattrLink: rel('xattr-link'),
  aclFile: rel('acl-file'),
  aclDir: rel('acl-dir'),
  aclInherited: rel('acl-dir', 'inherited.txt'),
  capability: rel('capable'),
  linkOne: rel('links', 'one'),
  linkTwo: rel('links', 'sub', 'two'),
  linkThree: rel('three'),
  sparse: rel('sparse.img'),
  sparseTail: rel('sparse-tail.img'),
  fifo: rel('fifo'),
  charDevice: rel('char-device'),
  blockDevice: rel('block-device'),
  socket: rel('socket'),
  nestedSocket: rel('sockets', 'nested.sock'),
  mode000: rel('mode-000'),
  mode000Dir: rel('mode-000-dir'),
  setuid: rel('setuid'),
  setgid: rel('setgid'),
  setgidDir: rel('setgid-dir'),
  sticky: rel('sticky-dir'),
  allBits: rel('all-bits'),
} as const;

export type FidelityCase = keyof typeof FIDELITY_PATHS;

/** What only root can make (or keep): left out, and named here, when the builder is not root. */
export const ROOT_ONLY: Record<string, string> = {
  owners: 'files owned by someone else (chown) need root',
  trustedXattrs: 'trusted.* and security.* extended attributes need CAP_SYS_ADMIN',
  capability: 'security.capability needs CAP_SETFCAP',
  devices: 'character and block devices need CAP_MKNOD',
  setuidOwned: 'a setuid file owned by another user needs root',
  mode000: 'a file or folder with mode 000 can be read (and so backed up) only by root',
  setIdBits: 'a restore keeps setuid and setgid bits only when it restores owners (root only); otherwise they are expected dropped',
};

/** The FIDELITY_PATHS cases that are not built at all when the builder is not root. */
export const ROOT_ONLY_CASES: FidelityCase[] = ['charDevice', 'blockDevice', 'mode000', 'mode000Dir'];

export interface FidelityTree {
  root: string;
  /** The cases left out (ROOT_ONLY keys, with why): empty when built as root. */
  skipped: string[];
  /** Paths of the sockets: a restore leaves them out, a backup lists them as problems. */
  sockets: RelativePath[];
  /** The sparse files: their allocated blocks are compared too. */
  sparseFiles: RelativePath[];
}

/**
 * Builds the tree at `root` (which must not exist yet). Owners, modes, capabilities, extended
 * attributes and then times are applied after the entries exist, in the order that keeps each
 * (chown clears setuid and capabilities; a new entry changes its folder's mtime).
 */
export async function buildFidelityTree(root: string): Promise<FidelityTree> {
  const native = nativeFs();
  const skipped = isRoot ? [] : Object.entries(ROOT_ONLY).map(([name, why]) => `${name}: ${why}`);
  const abs = (relative: RelativePath): Buffer => (relative.length === 0 ? b(root) : Buffer.concat([b(root), b('/'), relative]));
  const utf8Path = (relative: RelativePath): string => abs(relative).toString('utf8');
  const writeFile = async (relative: RelativePath, content: Buffer | string, mode = 0o644) => {
    await fs.writeFile(abs(relative), content);
    await fs.chmod(abs(relative), mode);
  };
  const mkdir = async (relative: RelativePath, mode = 0o755) => {
    await fs.mkdir(abs(relative));
    await fs.chmod(abs(relative), mode);
  };
  const P = FIDELITY_PATHS;

  await fs.mkdir(root);

  // Names.
  await writeFile(P.backslash, 'a backslash in the name\n');
  await writeFile(P.escapeLookalike, 'a name spelled like an escaped byte\n');
  await writeFile(P.newline, 'a newline in the name\n');
  await writeFile(P.latin1, 'a Latin-1 name, not UTF-8\n');
  await writeFile(P.invalidUtf8, 'bytes that are no UTF-8 at all\n');
  await mkdir(P.invalidUtf8Dir);
  await writeFile(P.invalidUtf8Nested, 'below a folder whose name is not UTF-8\n');
  await fs.symlink(P.latin1, abs(P.rawTargetLink));
  await writeFile(P.longAscii, '255 bytes of name\n');
  await writeFile(P.longUtf8, '255 bytes of UTF-8 name\n');
  await writeFile(rel('empty'), '');
  await fs.symlink('does/not/exist', abs(rel('dangling-link')));

  // Owners (the symlink's own owner, not its target's).
  await writeFile(P.ownedFile, 'owned by 1234:5678\n');
  await mkdir(P.ownedDir, 0o750);
  await writeFile(rel('owned-dir', 'inside.txt'), 'in a folder owned by 1234:5678\n');
  await fs.symlink('owned-file', abs(P.ownedLink));
  await writeFile(P.namedOwner, 'owned by daemon:daemon\n');
  if (isRoot) {
    for (const owned of [P.ownedFile, P.ownedDir, P.ownedLink]) native.lchownat(AT_FDCWD, abs(owned), OWNER.uid, OWNER.gid);
    native.lchownat(AT_FDCWD, abs(P.namedOwner), NAMED_OWNER.uid, NAMED_OWNER.gid);
  }

  // Extended attributes: user.* on a file and a folder; trusted.* and security.* (root only),
  // also on a symlink, which cannot hold user.* ones.
  await writeFile(P.xattrFile, 'extended attributes\n');
  await mkdir(P.xattrDir);
  await fs.symlink('xattrs.txt', abs(P.xattrLink));
  setAttributeSync(utf8Path(P.xattrFile), 'user.custodia.text', 'plain text');
  setAttributeSync(utf8Path(P.xattrFile), 'user.custodia.binary', ALL_BYTES);
  setAttributeSync(utf8Path(P.xattrFile), 'user.custodia.empty', Buffer.alloc(0));
  setAttributeSync(utf8Path(P.xattrDir), 'user.custodia.folder', 'on a folder');
  if (isRoot) {
    setAttributeSync(utf8Path(P.xattrFile), 'trusted.custodia', 'trusted value');
    setAttributeSync(utf8Path(P.xattrFile), 'security.custodia', 'security value');
    setAttributeSync(utf8Path(P.xattrLink), 'trusted.custodia.link', 'on the link itself');
  }

  // POSIX ACLs: an access ACL on a file; a default (and access) ACL on a folder, and a file
  // created in it afterwards, which inherits one.
  await writeFile(P.aclFile, 'with an access ACL\n', 0o640);
  setAttributeSync(
    utf8Path(P.aclFile),
    'system.posix_acl_access',
    posixAcl([
      { tag: 'user_obj', perm: 6 },
      { tag: 'user', id: OWNER.uid, perm: 4 },
      { tag: 'group_obj', perm: 4 },
      { tag: 'group', id: OWNER.gid, perm: 6 },
      { tag: 'mask', perm: 6 },
      { tag: 'other', perm: 0 },
    ]),
  );
  await mkdir(P.aclDir, 0o750);
  const folderAcl = posixAcl([
    { tag: 'user_obj', perm: 7 },
    { tag: 'user', id: OWNER.uid, perm: 7 },
    { tag: 'group_obj', perm: 5 },
    { tag: 'mask', perm: 7 },
    { tag: 'other', perm: 0 },
  ]);
  setAttributeSync(utf8Path(P.aclDir), 'system.posix_acl_default', folderAcl);
  setAttributeSync(utf8Path(P.aclDir), 'system.posix_acl_access', folderAcl);
  await fs.writeFile(abs(P.aclInherited), 'inherits the folder default ACL\n');

  // A file capability (after its mode: a chmod does not clear it, a chown or a write would).
  await writeFile(P.capability, '#!/bin/sh\necho capable\n', 0o755);
  if (isRoot) setAttributeSync(utf8Path(P.capability), 'security.capability', NET_RAW_CAPABILITY);

  // A hard-link group of three, across folders.
  await mkdir(rel('links'));
  await mkdir(rel('links', 'sub'));
  await writeFile(P.linkOne, 'one file, three names\n');
  await fs.link(abs(P.linkOne), abs(P.linkTwo));
  await fs.link(abs(P.linkOne), abs(P.linkThree));

  // Sparse files: 2 GiB with data at the start and 2 MiB before the end (then a 1 MiB hole to
  // the end); and 64 MiB that is a hole but for its last 4 KiB.
  const sparse = await fs.open(abs(P.sparse), 'w', 0o644);
  try {
    await sparse.write(pseudoRandomBytes('sparse-head', MiB), 0, MiB, 0);
    await sparse.write(pseudoRandomBytes('sparse-tail', MiB), 0, MiB, 2 * GiB - 2 * MiB);
    await sparse.truncate(2 * GiB);
  } finally {
    await sparse.close();
  }
  const tail = await fs.open(abs(P.sparseTail), 'w', 0o644);
  try {
    await tail.write(pseudoRandomBytes('sparse-end', 4096), 0, 4096, 64 * MiB - 4096);
  } finally {
    await tail.close();
  }

  // Special files: a FIFO, devices (root only), and sockets, which a restore cannot recreate.
  native.mknodat(AT_FDCWD, abs(P.fifo), fsConstants.S_IFIFO | 0o640, 0);
  if (isRoot) {
    native.mknodat(AT_FDCWD, abs(P.charDevice), fsConstants.S_IFCHR | 0o620, makeDev(CHAR_DEVICE.major, CHAR_DEVICE.minor));
    native.mknodat(AT_FDCWD, abs(P.blockDevice), fsConstants.S_IFBLK | 0o660, makeDev(BLOCK_DEVICE.major, BLOCK_DEVICE.minor));
  }
  await mkdir(rel('sockets'));
  for (const socket of [P.socket, P.nestedSocket]) makeSocket(utf8Path(socket));

  // Modes: none at all, on a file and on a folder with a file in it; setuid (on a file owned
  // by 1234, as root), setgid on a file and a folder, sticky, and every bit at once.
  if (isRoot) {
    await writeFile(P.mode000, 'no permissions at all\n', 0o644);
    await mkdir(P.mode000Dir);
    await writeFile(rel('mode-000-dir', 'inside.txt'), 'in a folder with mode 000\n');
  }
  await writeFile(P.setuid, '#!/bin/sh\necho setuid\n', 0o755);
  if (isRoot) native.lchownat(AT_FDCWD, abs(P.setuid), OWNER.uid, OWNER.gid);
  await writeFile(P.setgid, '#!/bin/sh\necho setgid\n', 0o755);
  await mkdir(P.setgidDir, 0o775);
  await writeFile(rel('setgid-dir', 'inside.txt'), 'in a setgid folder\n');
  await mkdir(P.sticky, 0o777);
  await writeFile(rel('sticky-dir', 'inside.txt'), 'in a sticky folder\n');
  await writeFile(P.allBits, 'every mode bit\n');
  if (isRoot) await fs.chmod(abs(P.mode000), 0o000);
  await fs.chmod(abs(P.setuid), 0o4755);
  await fs.chmod(abs(P.setgid), 0o2755);
  await fs.chmod(abs(P.setgidDir), 0o2775);
  await fs.chmod(abs(P.sticky), 0o1777);
  await fs.chmod(abs(P.allBits), 0o7777);

  // The root folder's own owner, mode and an xattr, then everyone's times, deepest first: distinct
  // nanosecond mtimes and atimes (atime before mtime, both long past), the root's last.
  await fs.chmod(abs(Buffer.alloc(0)), 0o2751);
  setAttributeSync(root, 'user.custodia.root', 'on the root folder itself');
  if (isRoot) native.lchownat(AT_FDCWD, abs(Buffer.alloc(0)), OWNER.uid, OWNER.gid);
  const everything = await listPostOrder(b(root));
  everything.forEach((relative, i) => {
    const mtime = 1_500_000_000_123_456_789n + BigInt(i) * 86_400_000_000_001n;
    native.lutimesat(AT_FDCWD, abs(relative), mtime - 3_600_000_000_007n, mtime);
  });
  if (isRoot) await fs.chmod(abs(P.mode000Dir), 0o000);

  return { root, skipped, sockets: [P.socket, P.nestedSocket], sparseFiles: [P.sparse, P.sparseTail] };
}

/**
 * A socket file: a child process binds an AF_UNIX socket there and exits without closing it
 * (process.exit runs no close handlers), so the socket inode stays behind, unbound.
 */
function makeSocket(file: string): void {
  const script = 'require("net").createServer().listen(process.argv[1], () => process.exit(0))';
  const result = spawnSync(process.execPath, ['-e', script, file], { stdio: 'pipe', timeout: 30_000 });
  if (result.status !== 0) throw new Error(`could not make a socket at ${file}: ${result.stderr.toString()}`);
}

/** Every path below `root` (relative bytes), children before their folder, `root` itself last. */
async function listPostOrder(root: Buffer): Promise<RelativePath[]> {
  const out: RelativePath[] = [];
  const visit = async (relative: RelativePath): Promise<void> => {
    const absolute = relative.length === 0 ? root : Buffer.concat([root, b('/'), relative]);
    const stats = await fs.lstat(absolute);
    if (stats.isDirectory()) {
      const names = (await fs.readdir(absolute, { encoding: 'buffer' })).sort(Buffer.compare);
      for (const name of names) await visit(relative.length === 0 ? name : Buffer.concat([relative, b('/'), name]));
    }
    out.push(relative);
  };
  await visit(Buffer.alloc(0));
  return out;
}
