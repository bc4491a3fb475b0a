import { DOMAIN_UPCASTERS, UpcasterRegistry } from '../domain';
import { AppendResult, CheckpointStore, EventStore, ExpectedRevision, NewEvent, RecordedEvent } from './ports/event-store';

/**
 * The event store as the application reads it: every event comes out of readStream and readAll
 * upcast to its type's current schema version (see domain/upcasting.ts), so command handlers
 * (AggregateStore), process managers, projections and the integration relay, which all read
 * through this, only ever see current shapes. Appends, checkpoints and notifications go to the
 * adapter unchanged. openEventStore wraps every adapter in it.
 */
export class UpcastingEventStore implements EventStore, CheckpointStore {
  constructor(
    private readonly store: EventStore & CheckpointStore,
    private readonly upcasters: UpcasterRegistry = DOMAIN_UPCASTERS,
  ) {}

  append(stream: string, events: NewEvent[], expectedRevision: ExpectedRevision): Promise<AppendResult> {
    return this.store.append(stream, events, expectedRevision);
  }

  async readStream(stream: string, fromRevision?: number): Promise<RecordedEvent[]> {
    return (await this.store.readStream(stream, fromRevision)).map((event) => this.upcast(event));
  }

  async readAll(afterPosition: number, limit: number): Promise<RecordedEvent[]> {
    return (await this.store.readAll(afterPosition, limit)).map((event) => this.upcast(event));
  }

  onAppended(listener: () => void): () => void {
    return this.store.onAppended(listener);
  }

  load(subscription: string): Promise<number> {
    return this.store.load(subscription);
  }

  save(subscription: string, position: number): Promise<void> {
    return this.store.save(subscription, position);
  }

  close(): Promise<void> {
    return this.store.close();
  }

  private upcast(event: RecordedEvent): RecordedEvent {
    const { schemaVersion, data } = this.upcasters.upcast(event.type, event.schemaVersion, event.data);
    // Already current (every event, until a type's version goes up): the adapter's object as it is.
    return schemaVersion === event.schemaVersion ? event : { ...event, schemaVersion, data };
  }
}
