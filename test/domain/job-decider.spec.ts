import { fold, JobCommand, jobDecider, JobEvent } from '../../src/domain';

/** A job's attempts are recorded once each, however often the process manager sees the same fact. */
describe('job decider', () => {
  const AT = '2030-01-01T00:00:00.000Z';
  const identity = { jobId: 'backup-e1', kind: 'backup', aggregateId: 'b1' };
  const run = (commands: JobCommand[]): JobEvent[] => {
    const events: JobEvent[] = [];
    for (const command of commands) events.push(...jobDecider.decide(command, fold(jobDecider, events)));
    return events;
  };

  it('records a start, an end and a re-dispatch per attempt, each once', () => {
    const started: JobCommand = { type: 'RecordAttemptStarted', attempt: 1, worker: 'host-a:42', at: AT, ...identity };
    const ended: JobCommand = {
      type: 'RecordAttemptEnded',
      attempt: 1,
      outcome: 'timed-out',
      code: 'JOB_TIMEOUT',
      retryable: true,
      at: AT,
      ...identity,
    };
    const redispatched: JobCommand = { type: 'RecordRedispatch', attempt: 2, delayMs: 1000, at: AT, ...identity };
    const second: JobCommand = { ...started, attempt: 2, worker: 'host-b:7' };

    expect(run([started, started, ended, ended, redispatched, redispatched, second, second])).toEqual([
      { type: 'JobAttemptStarted', data: { ...identity, attempt: 1, worker: 'host-a:42', at: AT } },
      { type: 'JobAttemptEnded', data: { ...identity, attempt: 1, outcome: 'timed-out', code: 'JOB_TIMEOUT', retryable: true, at: AT } },
      { type: 'JobRedispatched', data: { ...identity, attempt: 2, delayMs: 1000, at: AT } },
      { type: 'JobAttemptStarted', data: { ...identity, attempt: 2, worker: 'host-b:7', at: AT } },
    ]);
  });
});
