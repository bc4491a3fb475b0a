/**
 * Whether an error says the storage under it is full: Node's ENOSPC and EDQUOT (a quota),
 * SQLite's SQLITE_FULL, PostgreSQL's disk_full (SQLSTATE 53100), looked for on the error and
 * the causes it wraps. Such a failure is the machine's state, not damage and not a bug: it is
 * answered STORAGE_FULL, and whatever it interrupted can be retried once space is back.
 */
const FULL_CODES = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL', '53100']);

export function isStorageFull(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && FULL_CODES.has(code)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

export const STORAGE_FULL = 'STORAGE_FULL';
