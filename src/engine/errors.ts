/**
 * Every failure the engine reports to a user is an EngineError: a stable code a script can
 * match on, a one-line message naming the thing that is wrong, and the process exit code the
 * CLI uses (numbers follow restic where the meaning is the same: 3 = incomplete backup,
 * 10 = repository missing, 12 = wrong passphrase).
 */
export const ErrorCodes = {
  REPO_NOT_FOUND: 10,
  REPO_NOT_INITIALISED: 10,
  REPO_ALREADY_EXISTS: 1,
  REPO_DAMAGED: 1,
  REPO_LOCKED: 11,
  PRUNE_REFUSED: 1,
  WRONG_PASSPHRASE: 12,
  PASSPHRASE_MISSING: 1,
  KEY_NOT_FOUND: 1,
  LAST_KEY: 1,
  SOURCE_NOT_FOUND: 1,
  SNAPSHOT_NOT_FOUND: 1,
  SNAPSHOT_DAMAGED: 1,
  INDEX_DAMAGED: 1,
  PACK_DAMAGED: 1,
  PACK_MISSING: 1,
  BLOB_NOT_FOUND: 1,
  BLOB_DAMAGED: 1,
  UNSAFE_PATH: 1,
  TARGET_NOT_DIRECTORY: 1,
  TARGET_NOT_EMPTY: 1,
  /** A folder of the restore target kept vanishing as it was created: something else writes there. */
  TARGET_CHANGED: 1,
  SUBJECT_ERASED: 1,
  SUBJECT_KEY_MISSING: 1,
  PSEUDONYM_SECRET_MISSING: 1,
  INCOMPLETE: 3,
  /** Stopped on request (a cancelled job, or an interrupt): 130, as a shell reports Ctrl-C. */
  CANCELLED: 130,
  INVALID_ARGUMENT: 2,
  IO_ERROR: 1,
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class EngineError extends Error {
  readonly exitCode: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'EngineError';
    this.exitCode = ErrorCodes[code];
  }
}

export function isEngineError(error: unknown, code?: ErrorCode): error is EngineError {
  return error instanceof EngineError && (code === undefined || error.code === code);
}

/** Node's fs errors carry a `code` such as ENOENT; this reads it without `any`. */
export function errnoCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
