/**
 * A command the domain refuses. `code` is stable for clients; the API maps INVALID_TRANSITION
 * to 409, NOT_FOUND to 404 and INVALID_INPUT to 400.
 */
export type DomainErrorCode = 'INVALID_TRANSITION' | 'NOT_FOUND' | 'INVALID_INPUT' | 'ALREADY_EXISTS';

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
