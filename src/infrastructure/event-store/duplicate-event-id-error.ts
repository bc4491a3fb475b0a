/**
 * An appended event's id is already used by an event of another stream. Not a retry (that would
 * be the same stream), so it cannot be treated as an idempotent repeat: the caller reused an id.
 */
export class DuplicateEventIdError extends Error {
  constructor(
    readonly eventId: string,
    readonly existingStream: string,
    readonly stream: string,
  ) {
    super(`event id ${eventId} cannot be appended to stream ${stream}: stream ${existingStream} already holds it`);
    this.name = 'DuplicateEventIdError';
  }
}
