/**
 * A command the domain refuses. `code` is stable for clients; the API maps INVALID_TRANSITION,
 * ALREADY_EXISTS, TARGET_IN_USE and TARGET_IN_SOURCE to 409, NOT_FOUND to 404, INVALID_INPUT and
 * SOURCE_FORBIDDEN to 400.
 *
 * - SOURCE_FORBIDDEN: a source folder a confinement rule refuses (the message names the rule);
 * - TARGET_IN_USE: a restore target inside, or holding, the target of a restore still open;
 * - TARGET_IN_SOURCE: a restore target inside, or holding, a registered source;
 * - NO_SNAPSHOT (409): the backup has no snapshot to read (not completed yet, failed, or deleted);
 * - FORBIDDEN (403): the caller's role lacks a permission that depends on the input (a restore of
 *   one data subject's files is an access request).
 */
export type DomainErrorCode =
  | 'INVALID_TRANSITION'
  | 'NOT_FOUND'
  | 'INVALID_INPUT'
  | 'ALREADY_EXISTS'
  | 'SOURCE_FORBIDDEN'
  | 'TARGET_IN_USE'
  | 'TARGET_IN_SOURCE'
  | 'NO_SNAPSHOT'
  | 'FORBIDDEN';

export class DomainError extends Error {
  constructor(
    readonly code: DomainErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export function invalidTransition(message: string): DomainError {
  return new DomainError('INVALID_TRANSITION', message);
}

/** Whether an aggregate refused a command because it has moved on (settled, or busy with another). */
export function isInvalidTransition(error: unknown): boolean {
  return error instanceof DomainError && error.code === 'INVALID_TRANSITION';
}
