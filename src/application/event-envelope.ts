import { createHash, randomUUID } from 'node:crypto';
import { DomainEvent, DomainEventType, EVENT_SCHEMA_VERSION } from '../domain';
import type { Role } from './access-control';
import { EventMetadata, NewEvent, RecordedEvent } from './ports/event-store';

/** Who asked, and why: carried from the API or a process manager into every event's metadata. */
export interface CommandContext {
  actor: string;
  correlationId: string;
  /** The event that caused this command (process managers), or null for a user's request. */
  causationId: string | null;
  /** The role an authenticated caller acted in; absent when the API runs without tokens. */
  role?: Role;
}

export function userContext(actor: string, correlationId: string = randomUUID(), role?: Role): CommandContext {
  return { actor, correlationId, causationId: null, ...(role && { role }) };
}

/** Context for a command a process manager issues in reaction to a recorded event. */
export function causedBy(event: RecordedEvent, actor = 'system:process-manager'): CommandContext {
  return { actor, correlationId: event.metadata.correlationId, causationId: event.id };
}

/**
 * Wraps domain events for the store. Events caused by another event get ids derived from it,
 * so a process manager that handles the same event twice (after a crash) appends nothing new:
 * the store treats a repeated id as an idempotent no-op.
 */
export function toNewEvents(events: DomainEvent[], context: CommandContext, occurredAt: string, idSeed?: string): NewEvent[] {
  const metadata: EventMetadata = {
    correlationId: context.correlationId,
    causationId: context.causationId,
    actor: context.actor,
    ...(context.role && { role: context.role }),
  };
  return events.map((event, index) => ({
    id: idSeed ? deterministicUuid(`${idSeed}:${event.type}:${index}`) : randomUUID(),
    type: event.type,
    schemaVersion: EVENT_SCHEMA_VERSION[event.type],
    occurredAt,
    data: event.data,
    metadata,
  }));
}

export function toDomainEvent(recorded: RecordedEvent): DomainEvent {
  return { type: recorded.type as DomainEventType, data: recorded.data } as DomainEvent;
}

/** A UUID-shaped id (version nibble 5-like) from a SHA-256 of `seed`. */
export function deterministicUuid(seed: string): string {
  const hex = createHash('sha256').update(seed).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
