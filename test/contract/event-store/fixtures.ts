import { randomUUID } from 'node:crypto';
import type { EventStore, NewEvent, RecordedEvent } from '../../../src/application/ports/event-store';

// Adapters may run the contract against a long-lived database (a PostgreSQL schema, an
// EventStoreDB node), so every stream and subscription name is unique to this run and case.
const RUN = randomUUID().slice(0, 8);
let sequence = 0;

export function uniqueName(label: string): string {
  sequence += 1;
  return `${label}-${RUN}-${sequence}`;
}

export function newEvent(overrides: Partial<NewEvent> = {}): NewEvent {
  return {
    id: randomUUID(),
    type: 'ContractEventHappened',
    schemaVersion: 1,
    occurredAt: new Date().toISOString(),
    data: { sequence: ++sequence },
    metadata: { correlationId: randomUUID(), causationId: null, actor: 'event-store-contract' },
    ...overrides,
  };
}

export function newEvents(count: number): NewEvent[] {
  return Array.from({ length: count }, () => newEvent());
}

/**
 * The current end of the global log, as a position: appends a marker event to a stream of its
 * own, so the events a case appends afterwards are exactly those with a higher position.
 */
export async function logHead(store: EventStore): Promise<number> {
  const result = await store.append(uniqueName('marker'), [newEvent({ type: 'ContractMarkerPlaced' })], 'no-stream');
  return result.position;
}

/** Every event after `afterPosition`, read page by page to the end of the log. */
export async function readAllAfter(store: EventStore, afterPosition: number, pageSize = 100): Promise<RecordedEvent[]> {
  const events: RecordedEvent[] = [];
  for (;;) {
    const after = events.at(-1)?.position ?? afterPosition;
    const page = await store.readAll(after, pageSize);
    if (page.length === 0) return events;
    // Without this a store that returns `after` itself again would keep the loop going forever.
    if (page[0].position <= after) throw new Error(`readAll(${after}) returned an event at position ${page[0].position}`);
    events.push(...page);
  }
}

export function inStreams(events: RecordedEvent[], ...streams: string[]): RecordedEvent[] {
  return events.filter((event) => streams.includes(event.stream));
}

export function idsOf(events: { id: string }[]): string[] {
  return events.map((event) => event.id);
}

export function positionsOf(events: RecordedEvent[]): number[] {
  return events.map((event) => event.position);
}

/** Yields to the event loop, so concurrent appenders and readers really interleave. */
export function nextTick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export function expectStrictlyIncreasing(values: number[]): void {
  const outOfOrder = values.flatMap((value, index) =>
    index > 0 && value <= values[index - 1] ? [{ index, previous: values[index - 1], value }] : [],
  );
  expect(outOfOrder).toEqual([]);
}
