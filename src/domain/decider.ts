/**
 * A decider: the whole behaviour of an aggregate as two pure functions. `decide` turns a command
 * and the current state into new events (or throws a DomainError); `evolve` folds an event into
 * the state. State is rebuilt by folding the stream's events from `initialState`.
 */
export interface Decider<Command, State, Event> {
  initialState: State;
  decide(command: Command, state: State): Event[];
  evolve(state: State, event: Event): State;
}

export function fold<State, Event>(decider: Pick<Decider<unknown, State, Event>, 'initialState' | 'evolve'>, events: Event[]): State {
  return events.reduce((state, event) => decider.evolve(state, event), decider.initialState);
}

/** Stream names, one stream per aggregate instance. */
export const Streams = {
  source: (id: string) => `source-${id}`,
  backup: (id: string) => `backup-${id}`,
  restore: (id: string) => `restore-${id}`,
  /** A data subject, by pseudonym. */
  subject: (pseudonym: string) => `subject-${pseudonym}`,
  /** A job's attempts (job.ts). */
  job: (jobId: string) => `job-${jobId}`,
};
