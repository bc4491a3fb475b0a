import { Decider } from './decider';
import { EventOf, JobEventIdentity } from './events';

/**
 * A job's attempts, as facts of their own (stream `job-<jobId>`): which worker took each attempt,
 * how an attempt that did not finish the job ended (its worker went silent, the service
 * restarted under it, it failed) and when the job was handed out again. The aggregate the job
 * works for (a backup, a restore) records the job's outcome; these say how it got there, for
 * the catalog's `attempts` and the audit trail.
 */
export type JobEvent = EventOf<'JobAttemptStarted'> | EventOf<'JobAttemptEnded'> | EventOf<'JobRedispatched'>;

/** How an attempt that did not finish the job ended. */
export const JOB_ATTEMPT_OUTCOMES = ['timed-out', 'lost', 'failed'] as const;
export type JobAttemptOutcome = (typeof JOB_ATTEMPT_OUTCOMES)[number];

type JobIdentity = JobEventIdentity;

export type JobCommand =
  | ({ type: 'RecordAttemptStarted'; attempt: number; worker: string | null; at: string } & JobIdentity)
  | ({
      type: 'RecordAttemptEnded';
      attempt: number;
      outcome: JobAttemptOutcome;
      code: string;
      retryable: boolean;
      at: string;
    } & JobIdentity)
  | ({ type: 'RecordRedispatch'; attempt: number; delayMs: number; at: string } & JobIdentity);

export interface JobState {
  started: number[];
  ended: number[];
  redispatched: number[];
}

/**
 * Records each fact once: the process manager may see a worker's status, or a time-out, twice
 * (a redelivery, two processes during a fail-over), and a second recording is no change.
 */
export const jobDecider: Decider<JobCommand, JobState, JobEvent> = {
  initialState: { started: [], ended: [], redispatched: [] },

  decide(command, state) {
    const identity = { jobId: command.jobId, kind: command.kind, aggregateId: command.aggregateId };
    switch (command.type) {
      case 'RecordAttemptStarted':
        if (state.started.includes(command.attempt)) return [];
        return [{ type: 'JobAttemptStarted', data: { ...identity, attempt: command.attempt, worker: command.worker, at: command.at } }];
      case 'RecordAttemptEnded':
        if (state.ended.includes(command.attempt)) return [];
        return [
          {
            type: 'JobAttemptEnded',
            data: {
              ...identity,
              attempt: command.attempt,
              outcome: command.outcome,
              code: command.code,
              retryable: command.retryable,
              at: command.at,
            },
          },
        ];
      case 'RecordRedispatch':
        if (state.redispatched.includes(command.attempt)) return [];
        return [{ type: 'JobRedispatched', data: { ...identity, attempt: command.attempt, delayMs: command.delayMs, at: command.at } }];
    }
  },

  evolve(state, event) {
    switch (event.type) {
      case 'JobAttemptStarted':
        return { ...state, started: [...state.started, event.data.attempt] };
      case 'JobAttemptEnded':
        return { ...state, ended: [...state.ended, event.data.attempt] };
      case 'JobRedispatched':
        return { ...state, redispatched: [...state.redispatched, event.data.attempt] };
    }
  },
};
