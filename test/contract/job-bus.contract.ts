import { Job, JobBus, ReceivedJobStatus } from '../../src/application/ports/job-bus';
import { backupJob, deferred, recorder, sleep, until } from './job-bus/helpers';

export type Channel = 'job' | 'status' | 'control';

export interface JobBusRetryOptions {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/** What an adapter's spec hands the contract: how to open its bus, and what differs by design. */
export interface JobBusAdapter {
  /** A bus on queues (topics, groups) no other test uses. */
  open(options: JobBusRetryOptions): JobBus;
  /** Another handle on the queues of `bus`, as a second worker process has; in-process, `bus` itself. */
  sameQueues(bus: JobBus): JobBus;
  /** How many jobs of different keys the buses it opens run at once. */
  concurrency: number;
  /** `count` keys whose jobs may run at the same time (on Kafka: keys on different partitions). */
  keys(stem: string, count: number): string[];
  /** Puts `message` on the bus as it is, bypassing the publisher's types (a poison message). */
  inject(bus: JobBus, channel: Channel, message: unknown): Promise<void>;
  /** The dead-letter reasons, which name the same problem in each adapter's words. */
  reasons: {
    handlerFailed(attempts: number, message: string): string;
    malformed(channel: Channel, problem: string): string;
  };
  /** What a dead letter's `at` is (a fixed clock's time, or any ISO time). */
  deadLetterAt: unknown;
  /** How long to wait before concluding that nothing more is delivered. */
  quietMs: number;
}

const AT = '2030-01-02T03:04:05.000Z';
const RETRY: JobBusRetryOptions = { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 100 };

/**
 * The JobBus port's rules (src/application/ports/job-bus.ts), written against the port alone:
 * the in-process bus (unit run) and the Kafka bus (integration run) pass it. Per-key order,
 * at-least-once delivery with backoff, dead letters for failures and poison messages, statuses,
 * control messages to every consumer, and shutdown. Each test opens buses of its own.
 */
export function jobBusContract(name: string, adapter: JobBusAdapter): void {
  describe(`${name}: job bus contract`, () => {
    const opened: JobBus[] = [];
    /** Lets blocked handlers finish when a test failed early, so that closing cannot hang. */
    const unblock: (() => void)[] = [];
    const open = (options: Partial<JobBusRetryOptions> = {}) => {
      const bus = adapter.open({ ...RETRY, ...options });
      opened.push(bus);
      return bus;
    };
    const sameQueues = (bus: JobBus) => {
      const other = adapter.sameQueues(bus);
      if (other !== bus) opened.push(other);
      return other;
    };
    const { reasons } = adapter;

    afterEach(async () => {
      for (const release of unblock.splice(0)) release();
      await Promise.all(opened.splice(0).map((bus) => bus.close().catch(() => undefined)));
    });

    it('handles the jobs of one key in publish order, one at a time, and different keys concurrently', async () => {
      const bus = open();
      const keys = adapter.keys('source', adapter.concurrency);
      const published: string[] = [];
      // Published before the consumer starts: buffered, and work for every key at once.
      for (let i = 1; i <= 4; i++) {
        for (const key of keys) {
          await bus.publishJob(backupJob(key, `${key}/${i}`));
          published.push(`${key}/${i}`);
        }
      }
      const jobs = recorder({ delayMs: 40 });
      await bus.consumeJobs(jobs.handler);

      await until(() => jobs.ended().length >= published.length, 'all jobs');
      for (const key of keys) {
        const ofKey = jobs.log.filter((entry) => entry.key === key).map((entry) => `${entry.event} ${entry.jobId}`);
        expect(ofKey).toEqual([1, 2, 3, 4].flatMap((i) => [`start ${key}/${i}`, `end ${key}/${i}`]));
      }
      expect(jobs.maxActivePerKey()).toBe(1);
      expect(jobs.maxActive()).toBeGreaterThanOrEqual(2);
      expect(jobs.maxActive()).toBeLessThanOrEqual(adapter.concurrency);
      expect(jobs.ended().sort()).toEqual([...published].sort()); // each exactly once
    });

    it('retries a handler that throws, with doubling backoff, until it succeeds, redelivering the job as published', async () => {
      const bus = open({ maxAttempts: 5, baseDelayMs: 50, maxDelayMs: 1_000 });
      const deliveries: { job: Job; at: number }[] = [];
      await bus.consumeJobs(async (job) => {
        deliveries.push({ job: structuredClone(job), at: Date.now() });
        if (deliveries.length < 3) throw new Error('temporarily unavailable');
      });
      await bus.publishJob(backupJob('flaky-source', 'flaky-1'));

      await until(() => deliveries.length === 3, 'three deliveries');
      const [first, second, third] = deliveries.map((delivery) => delivery.at);
      expect(second - first).toBeGreaterThanOrEqual(45); // baseDelayMs, then twice that
      expect(third - second).toBeGreaterThanOrEqual(95);
      await sleep(300);
      expect(deliveries.map((delivery) => delivery.job)).toEqual([1, 2, 3].map(() => backupJob('flaky-source', 'flaky-1')));
      expect(await bus.deadLetters()).toEqual([]);
    });

    it('dead-letters a job after maxAttempts with the reason, then handles the next job of that key', async () => {
      const bus = open({ maxAttempts: 3 });
      const calls: string[] = [];
      await bus.consumeJobs(async (job) => {
        calls.push(job.jobId);
        if (job.jobId === 'doomed-1') throw new Error('disk full');
      });
      const doomed = backupJob('doomed-source', 'doomed-1');
      await bus.publishJob(doomed);
      await bus.publishJob(backupJob('doomed-source', 'after-doomed'));

      await until(() => calls.includes('after-doomed'), 'the next job of the key');
      expect(calls).toEqual(['doomed-1', 'doomed-1', 'doomed-1', 'after-doomed']);
      await until(async () => (await bus.deadLetters()).length === 1, 'the dead letter');
      const letters = await bus.deadLetters();
      expect(letters).toEqual([{ message: doomed, reason: reasons.handlerFailed(3, 'disk full'), at: adapter.deadLetterAt }]);
      expect(Date.parse(letters[0].at)).not.toBeNaN();
    });

    it('treats a synchronous throw or a non-Error rejection like any failure', async () => {
      const bus = open({ maxAttempts: 2 });
      let calls = 0;
      await bus.consumeJobs(((job: Job) => {
        calls += 1;
        if (job.jobId === 'a1') throw new Error('sync');
        return Promise.reject('plain string');
      }) as (job: Job) => Promise<void>);
      await bus.publishJob(backupJob('a', 'a1'));
      await bus.publishJob(backupJob('b', 'b1'));

      await until(() => calls === 4, 'four calls');
      await until(async () => (await bus.deadLetters()).length === 2, 'two dead letters');
      const letters = (await bus.deadLetters()).map((letter) => letter.reason).sort();
      expect(letters).toEqual([reasons.handlerFailed(2, 'plain string'), reasons.handlerFailed(2, 'sync')].sort());
    });

    it('dead-letters malformed jobs as they were, without calling the handler, and goes on consuming', async () => {
      const bus = open();
      const seen: string[] = [];
      await bus.consumeJobs(async (job) => {
        seen.push(job.jobId);
      });
      const key = 'poison-source';
      const noId = { kind: 'backup', key, attempt: 1, payload: {} };
      const wrongKind = { ...backupJob(key, 'poison-kind'), kind: 'teleport' };
      for (const message of [noId, wrongKind, 'not a job']) await adapter.inject(bus, 'job', message);
      await bus.publishJob(backupJob(key, 'after-poison'));

      await until(() => seen.includes('after-poison'), 'the valid job after the poison');
      expect(seen).toEqual(['after-poison']);
      await until(async () => (await bus.deadLetters()).length === 3, 'three dead letters');
      expect(await bus.deadLetters()).toEqual([
        { message: noId, reason: reasons.malformed('job', 'jobId must be a non-empty string'), at: adapter.deadLetterAt },
        { message: wrongKind, reason: reasons.malformed('job', 'unknown kind'), at: adapter.deadLetterAt },
        { message: 'not a job', reason: reasons.malformed('job', 'not an object'), at: adapter.deadLetterAt },
      ]);
    });

    it('returns copies of the dead letters', async () => {
      const bus = open();
      await bus.consumeJobs(async () => undefined); // a broker's bus dead-letters as it consumes
      await adapter.inject(bus, 'job', { jobId: 'x' });
      await until(async () => (await bus.deadLetters()).length === 1, 'the dead letter');
      const [first] = await bus.deadLetters();
      (first.message as { jobId: string }).jobId = 'changed';
      first.reason = 'changed';

      const [again] = await bus.deadLetters();
      expect(again.message).toEqual({ jobId: 'x' });
      expect(again.reason.startsWith(reasons.malformed('job', ''))).toBe(true);
    });

    it('delivers statuses in order per job, published before and while the consumer runs, and dead-letters a malformed one', async () => {
      const bus = open();
      const progress = { filesDone: 1, bytesDone: 10, totalFiles: 2, totalBytes: 20 };
      const statuses: ReceivedJobStatus[] = [
        { jobId: 'j1', kind: 'backup', attempt: 1, at: AT, status: 'started' },
        { jobId: 'j2', kind: 'restore', attempt: 2, at: AT, status: 'started' },
        { jobId: 'j1', kind: 'backup', attempt: 1, at: AT, status: 'heartbeat', progress },
        { jobId: 'j2', kind: 'restore', attempt: 2, at: AT, status: 'failed', failure: { code: 'E_IO', reason: 'gone', retryable: true } },
        { jobId: 'j1', kind: 'backup', attempt: 1, at: AT, status: 'heartbeat' },
      ];
      for (const status of statuses) await bus.publishStatus(status);
      const exploded = { ...statuses[0], status: 'exploded' };
      await adapter.inject(bus, 'status', exploded);
      const received: ReceivedJobStatus[] = [];
      await bus.consumeStatuses(async (status) => {
        received.push(status);
      });
      const completed: ReceivedJobStatus = { jobId: 'j1', kind: 'backup', attempt: 1, at: AT, status: 'completed', result: { files: 2 } };
      await bus.publishStatus(completed);

      await until(() => received.length === 6, 'six statuses');
      expect(received.filter((status) => status.jobId === 'j1')).toEqual([statuses[0], statuses[2], statuses[4], completed]);
      expect(received.filter((status) => status.jobId === 'j2')).toEqual([statuses[1], statuses[3]]);
      await until(async () => (await bus.deadLetters()).length === 1, 'the dead letter');
      expect(await bus.deadLetters()).toEqual([
        { message: exploded, reason: reasons.malformed('status', 'unknown status'), at: adapter.deadLetterAt },
      ]);
    });

    it('dead-letters a status whose handler keeps failing', async () => {
      const bus = open({ maxAttempts: 2 });
      await bus.consumeStatuses(async () => {
        throw new Error('projection broken');
      });
      const started: ReceivedJobStatus = { jobId: 'j1', kind: 'backup', attempt: 1, at: AT, status: 'started' };
      await bus.publishStatus(started);

      await until(async () => (await bus.deadLetters()).length === 1, 'a dead letter');
      expect(await bus.deadLetters()).toEqual([
        { message: started, reason: reasons.handlerFailed(2, 'projection broken'), at: adapter.deadLetterAt },
      ]);
    });

    it('gives every control consumer every message until it unsubscribes, and dead-letters a malformed one', async () => {
      const bus = open();
      const first: string[] = [];
      const second: string[] = [];
      await bus.consumeControl(async (message) => {
        first.push(message.jobId);
      });
      const stopSecond = await bus.consumeControl(async (message) => {
        second.push(message.jobId);
      });
      await bus.publishControl({ jobId: 'j1', action: 'cancel', at: AT });
      await until(() => first.length === 1 && second.length === 1, 'both consumers to see j1');
      await stopSecond();
      await bus.publishControl({ jobId: 'j2', action: 'cancel', at: AT });
      const pause = { jobId: 'j3', action: 'pause', at: AT };
      await adapter.inject(bus, 'control', pause);

      await until(() => first.length === 2, 'the first consumer to see j2');
      await until(async () => (await bus.deadLetters()).length === 1, 'the dead letter');
      await sleep(adapter.quietMs);
      expect({ first, second }).toEqual({ first: ['j1', 'j2'], second: ['j1'] });
      expect(await bus.deadLetters()).toEqual([
        { message: pause, reason: reasons.malformed('control', 'unknown action'), at: adapter.deadLetterAt },
      ]);
    });

    it('hands the jobs left by a consumer that unsubscribed to the next one: none lost, none twice, in order per key', async () => {
      const keys = adapter.keys('restart', 2);
      const first = open();
      const jobs = recorder({ delayMs: 60 });
      const unsubscribe = await first.consumeJobs(jobs.handlerFor('first'));
      const published: string[] = [];
      const publish = async (rounds: number[]) => {
        for (const i of rounds) {
          for (const key of keys) {
            await first.publishJob(backupJob(key, `${key}/${i}`));
            published.push(`${key}/${i}`);
          }
        }
      };
      await publish([1, 2, 3, 4, 5, 6]);
      await until(() => jobs.ended('first').length >= 4, 'some jobs on the first consumer');
      await unsubscribe();
      await unsubscribe(); // idempotent
      const handledByFirst = jobs.ended('first');
      expect(handledByFirst.length).toBeLessThan(published.length); // really mid-stream

      await publish([7, 8]); // while no consumer runs
      await sleep(adapter.quietMs);
      expect(jobs.ended('first')).toEqual(handledByFirst); // nothing after unsubscribe
      expect(jobs.log.filter((entry) => entry.by === 'first' && entry.event === 'start')).toHaveLength(handledByFirst.length);

      await sameQueues(first).consumeJobs(jobs.handlerFor('second'));
      await until(() => published.every((jobId) => jobs.ended().includes(jobId)), 'every job');
      for (const key of keys) {
        expect(jobs.firstCompletions().filter((jobId) => jobId.startsWith(`${key}/`))).toEqual(
          published.filter((jobId) => jobId.startsWith(`${key}/`)),
        );
      }
      expect(jobs.ended('second').filter((jobId) => handledByFirst.includes(jobId))).toEqual([]);
      expect(jobs.maxActivePerKey()).toBe(1);
    });

    it('close() waits for a running handler and starts nothing new', async () => {
      const bus = open();
      const release = deferred();
      unblock.push(release.resolve);
      const log: string[] = [];
      await bus.consumeJobs(async (job) => {
        log.push(`start ${job.jobId}`);
        await release.promise;
        log.push(`end ${job.jobId}`);
      });
      await bus.publishJob(backupJob('shutdown-source', 's-1'));
      await bus.publishJob(backupJob('shutdown-source', 's-2'));
      await until(() => log.length === 1, 'the first job to start');

      let closed = false;
      const closing = bus.close().then(() => (closed = true));
      await sleep(adapter.quietMs);
      expect(closed).toBe(false);
      release.resolve();
      await closing;
      expect(log).toEqual(['start s-1', 'end s-1']);
    });

    it('close() cancels a pending retry backoff instead of waiting for it', async () => {
      const bus = open({ maxAttempts: 3, baseDelayMs: 60_000, maxDelayMs: 60_000 });
      let calls = 0;
      await bus.consumeJobs(async () => {
        calls += 1;
        throw new Error('down');
      });
      await bus.publishJob(backupJob('backoff-source', 'x-1'));
      await until(() => calls === 1, 'the first attempt');

      const before = Date.now();
      await bus.close(); // with the timer still pending this would take a minute
      expect(Date.now() - before).toBeLessThan(15_000);
      expect(calls).toBe(1);
      expect(await bus.deadLetters()).toEqual([]);
    });
  });
}
