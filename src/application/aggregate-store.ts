import { Decider, DomainEvent, fold } from '../domain';
import { CommandContext, toDomainEvent, toNewEvents } from './event-envelope';
import { EventStore, RecordedEvent, WrongExpectedRevisionError } from './ports/event-store';
import { retry, RetryPolicy } from './retry';

/** A decision that lost a race for its stream is made again at once on the fresh state, five times at most. */
const CONFLICT_RETRY: RetryPolicy = { maxAttempts: 1 + 5, backoff: { kind: 'none' } };

export interface Decision<State> {
  state: State;
  appended: number;
  /** Global position of the last event appended (or already stored, when nothing new was decided). */
  position: number | null;
}

/**
 * Loads an aggregate by folding its stream, asks the decider, and appends the result with the
 * stream's revision as the expected one. A concurrent writer makes the append fail; the whole
 * decision is then made again on the fresh state, so no conflict is lost or duplicated.
 */
export class AggregateStore {
  constructor(private readonly events: EventStore) {}

  async load<State, Event extends DomainEvent>(
    decider: Decider<unknown, State, Event>,
    stream: string,
  ): Promise<{ state: State; revision: number }> {
    const recorded = await this.events.readStream(stream);
    return { state: fold(decider, recorded.map(toDomainEvent) as Event[]), revision: recorded.length - 1 };
  }

  async execute<Command, State, Event extends DomainEvent>(
    decider: Decider<Command, State, Event>,
    stream: string,
    command: Command | ((state: State) => Command),
    context: CommandContext,
    occurredAt: string,
  ): Promise<Decision<State>> {
    return retry(
      CONFLICT_RETRY,
      async () => {
        const { state, revision } = await this.load(decider as Decider<unknown, State, Event>, stream);
        const resolved = typeof command === 'function' ? (command as (state: State) => Command)(state) : command;
        const decided = decider.decide(resolved, state);
        if (decided.length === 0) return { state, appended: 0, position: null };
        // Events caused by another event get ids derived from it: a repeated reaction is a no-op.
        const seed = context.causationId ? `${context.causationId}:${stream}` : undefined;
        const result = await this.events.append(
          stream,
          toNewEvents(decided, context, occurredAt, seed),
          revision < 0 ? 'no-stream' : revision,
        );
        return { state: decided.reduce(decider.evolve, state), appended: decided.length, position: result.position };
      },
      { retryIf: (error) => error instanceof WrongExpectedRevisionError },
    );
  }
}

export type { RecordedEvent };
