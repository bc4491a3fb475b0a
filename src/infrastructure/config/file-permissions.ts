import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  Stats,
  statSync,
  writeSync,
} from 'node:fs';

/**
 * File modes of what the service keeps: the files that hold keys, secrets or tokens must be the
 * service user's own and closed to others, since whoever can write the tokens file admits
 * themselves, and whoever can read a key file reads every backup.
 */

/** Why a file must not be used as it is; null when its owner and mode are fine. */
export function filePermissionProblem(
  file: string,
  stats: Pick<Stats, 'mode' | 'uid'>,
  options: { secret: boolean },
  uid: number | null = currentUid(),
): string | null {
  if (uid !== null && stats.uid !== uid) {
    return `${file} is owned by uid ${stats.uid}, not by the service's user (uid ${uid}): chown ${uid} ${file} && chmod 600 ${file}`;
  }
  if ((stats.mode & 0o022) !== 0) return `${file} is writable by group or others: check its content, then chmod 600 ${file}`;
  if (options.secret && (stats.mode & 0o044) !== 0) return `${file} is readable by group or others: chmod 600 ${file}`;
  return null;
}

/** The check above for a file that exists; null also for a file that does not (yet). */
export function existingFileProblem(file: string, options: { secret: boolean }): string | null {
  let stats: Stats;
  try {
    stats = statSync(file);
  } catch {
    return null;
  }
  return filePermissionProblem(file, stats, options);
}

export function currentUid(): number | null {
  return typeof process.getuid === 'function' ? process.getuid() : null;
}

/**
 * DATA_DIR is the service's alone: created 0700; an existing one of the service's user that
 * others may enter is tightened to 0700 (and said so), since it holds the audit trail, the
 * event log and the generated keys. One owned by another user is refused: the service cannot
 * know who else relies on it.
 */
export function prepareDataDir(dataDir: string, logger: { warn(message: string): void }): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const stats = statSync(dataDir);
  const uid = currentUid();
  if (uid !== null && stats.uid !== uid) {
    throw new FilePermissionError(
      `DATA_DIR ${dataDir} is owned by uid ${stats.uid}, not by the service's user (uid ${uid}): chown ${uid} ${dataDir} && chmod 700 ${dataDir}`,
    );
  }
  if ((stats.mode & 0o077) !== 0) {
    chmodSync(dataDir, 0o700);
    logger.warn(`DATA_DIR ${dataDir} was open to group or others (mode ${(stats.mode & 0o777).toString(8)}): changed to 0700`);
  }
}

/**
 * A database file opened by SQLite, which creates files 0644 and gives its -wal and -shm files
 * the database file's mode: the file is created empty with 0600 first (an empty file is an
 * empty database), and an existing one or its companions of an older build are tightened.
 */
export function preparePrivateDatabaseFile(file: string): void {
  if (file === ':memory:' || file === '' || file.startsWith('file:')) return;
  try {
    const fd = openSync(file, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    try {
      if ((fstatSync(fd).mode & 0o077) !== 0) chmodSync(file, 0o600);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP')
      throw new FilePermissionError(`${file} is a symlink: a database file must be a plain file`);
    throw error;
  }
  for (const companion of [`${file}-wal`, `${file}-shm`, `${file}-journal`]) {
    try {
      const stats = lstatSync(companion);
      if (stats.isFile() && (stats.mode & 0o077) !== 0) chmodSync(companion, 0o600);
    } catch {
      // not there: SQLite creates it with the database file's mode
    }
  }
}

/**
 * Appends to a file kept 0600 (the tokens file): created 0600; an existing one is checked on the
 * opened descriptor, as the service checks it at start, and refused when others may write it or
 * it is not the user's own (a line may have been slipped in: its owner must look first); one that
 * others may only read is tightened to 0600. `text` gets the content so far.
 */
export function appendToPrivateFile(file: string, text: (before: string) => string): void {
  const fd = openSync(file, constants.O_RDWR | constants.O_CREAT | constants.O_APPEND, 0o600);
  try {
    const stats = fstatSync(fd);
    const problem = filePermissionProblem(file, stats, { secret: false });
    if (problem !== null) throw new FilePermissionError(problem);
    if ((stats.mode & 0o077) !== 0) fchmodSync(fd, 0o600);
    writeSync(fd, text(readFileSync(fd, 'utf8')));
  } finally {
    closeSync(fd);
  }
}

/** A start-up refusal about a file's owner or mode; reported like a configuration error. */
export class FilePermissionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigurationError';
  }
}
