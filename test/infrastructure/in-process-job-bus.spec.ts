import { Clock } from '../../src/application/ports/clock';
import { Job, JobStatusMessage } from '../../src/application/ports/job-bus';
import { InProcessJobBus, InProcessJobBusOptions } from '../../src/infrastructure/bus/in-process-job-bus';
import { isJob, isJobStatus } from '../../src/infrastructure/bus/job-validation';

const AT = '2030-01-02T03:04:05.000Z';
const fixedClock: Clock = { now: () => new Date(AT) };

function backupJob(key: string, jobId: string): Job {
  return { jobId, kind: 'backup', key, attempt: 1, payload: { backupId: `b-${jobId}`, sourceId: key, path: '/data', full: false } };
}

function status(jobId: string, s: 'started' | 'completed' = 'started'): JobStatusMessage {
  return s === 'started'
    ? { jobId, kind: 'backup', attempt: 1, at: AT, status: 'started' }
    : { jobId, kind: 'backup', attempt: 1, at: AT, status: 'completed', result: { files: 1 } };
}

const tick = (ms = 0) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls until `condition` holds; the limit only turns a hang into a clear failure. */
async function until(condition: () => boolean | Promise<boolean>, what = 'condition'): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (await condition()) return;
    await tick(1);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('InProcessJobBus', () => {
  let bus: InProcessJobBus;
  const open = (options: InProcessJobBusOptions = {}) => {
    bus = new InProcessJobBus({ baseDelayMs: 1, maxDelayMs: 5, clock: fixedClock, ...options });
    return bus;
  };

  afterEach(async () => {
    await bus?.close();
  });

  /** Runs every job with a short delay, recording starts, ends and overlap. */
  function recordingHandler() {
    const log: string[] = [];
    const activeByKey = new Map<string, number>();
    let active = 0;
    let maxActive = 0;
    let maxActivePerKey = 0;
    const handler = async (job: Job) => {
      log.push(`start ${job.jobId}`);
      active += 1;
      maxActive = Math.max(maxActive, active);
      const forKey = (activeByKey.get(job.key) ?? 0) + 1;
      activeByKey.set(job.key, forKey);
      maxActivePerKey = Math.max(maxActivePerKey, forKey);
      await tick(2);
      activeByKey.set(job.key, forKey - 1);
      active -= 1;
      log.push(`end ${job.jobId}`);
    };
    return {
      handler,
      log,
      ends: () => log.filter((entry) => entry.startsWith('end')).length,
      maxActive: () => maxActive,
      maxActivePerKey: () => maxActivePerKey,
    };
  }

  describe('ordering and concurrency', () => {
    it('handles jobs of one key in publish order without overlap, and different keys concurrently', async () => {
      open({ concurrency: 2 });
      const recorder = recordingHandler();
      await bus.consumeJobs(recorder.handler);
      for (const id of ['a1', 'b1', 'a2', 'a3', 'b2', 'b3']) await bus.publishJob(backupJob(id[0], id));

      await until(() => recorder.ends() === 6, 'six jobs');
      for (const key of ['a', 'b']) {
        const ofKey = recorder.log.filter((entry) => entry.endsWith(`${key}1`) || entry.endsWith(`${key}2`) || entry.endsWith(`${key}3`));
        expect(ofKey).toEqual([`start ${key}1`, `end ${key}1`, `start ${key}2`, `end ${key}2`, `start ${key}3`, `end ${key}3`]);
      }
      expect(recorder.maxActivePerKey()).toBe(1);
      expect(recorder.maxActive()).toBe(2);
      expect(recorder.log.slice(0, 2)).toEqual(['start a1', 'start b1']);
    });

    it('never runs more keys at once than the concurrency', async () => {
      open({ concurrency: 2 });
      const recorder = recordingHandler();
      await bus.consumeJobs(recorder.handler);
      for (const key of ['a', 'b', 'c', 'd']) await bus.publishJob(backupJob(key, `${key}1`));

      await until(() => recorder.ends() === 4, 'four jobs');
      expect(recorder.maxActive()).toBe(2);
    });

    it('keeps a key to one job at a time even when slots are free', async () => {
      open({ concurrency: 4 });
      const recorder = recordingHandler();
      for (const id of ['a1', 'a2', 'a3', 'b1', 'b2']) await bus.publishJob(backupJob(id[0], id));
      await bus.consumeJobs(recorder.handler);

      await until(() => recorder.ends() === 5, 'five jobs');
      expect(recorder.maxActivePerKey()).toBe(1);
      expect(recorder.maxActive()).toBe(2);
    });

    it('takes keys in turn so one busy source cannot starve another', async () => {
      open({ concurrency: 1 });
      for (const id of ['a1', 'a2', 'a3', 'b1']) await bus.publishJob(backupJob(id[0], id));
      const seen: string[] = [];
      await bus.consumeJobs(async (job) => {
        seen.push(job.jobId);
      });

      await until(() => seen.length === 4, 'four jobs');
      expect(seen).toEqual(['a1', 'b1', 'a2', 'a3']);
    });

    it('runs different keys one at a time with concurrency 1', async () => {
      open({ concurrency: 1 });
      const recorder = recordingHandler();
      await bus.consumeJobs(recorder.handler);
      for (const id of ['a1', 'b1', 'a2']) await bus.publishJob(backupJob(id[0], id));

      await until(() => recorder.ends() === 3, 'three jobs');
      expect(recorder.maxActive()).toBe(1);
      expect(recorder.log).toEqual(['start a1', 'end a1', 'start b1', 'end b1', 'start a2', 'end a2']);
    });

    it('buffers jobs published before the consumer registers and delivers them in order', async () => {
      open();
      for (const id of ['a1', 'a2', 'a3']) await bus.publishJob(backupJob('a', id));
      const seen: string[] = [];
      await bus.consumeJobs(async (job) => {
        seen.push(job.jobId);
      });

      await until(() => seen.length === 3, 'buffered jobs');
      expect(seen).toEqual(['a1', 'a2', 'a3']);
    });

    it('delivers a snapshot: changes by the publisher after publishing do not leak', async () => {
      open();
      const job = backupJob('a', 'a1');
      await bus.publishJob(job);
      job.jobId = 'changed';
      const seen: string[] = [];
      await bus.consumeJobs(async (delivered) => {
        seen.push(delivered.jobId);
      });
      await until(() => seen.length === 1, 'the job');
      expect(seen).toEqual(['a1']);
    });
  });

  describe('retries and dead letters', () => {
    it('retries a failing job until it succeeds, redelivering it unchanged', async () => {
      open({ maxAttempts: 5 });
      const deliveries: Job[] = [];
      await bus.consumeJobs(async (job) => {
        deliveries.push(structuredClone(job));
        job.attempt = 99; // a handler's changes must not reach the retry
        if (deliveries.length < 3) throw new Error('temporary');
      });
      await bus.publishJob(backupJob('a', 'a1'));

      await until(() => deliveries.length === 3, 'three deliveries');
      await tick(10);
      expect(deliveries).toEqual([backupJob('a', 'a1'), backupJob('a', 'a1'), backupJob('a', 'a1')]);
      expect(await bus.deadLetters()).toEqual([]);
    });

    it('dead-letters a job after maxAttempts with the error message as reason, then runs the next job of that key', async () => {
      open({ maxAttempts: 3 });
      const calls: string[] = [];
      await bus.consumeJobs(async (job) => {
        calls.push(job.jobId);
        if (job.jobId === 'a1') throw new Error('disk full');
      });
      const failing = backupJob('a', 'a1');
      await bus.publishJob(failing);
      await bus.publishJob(backupJob('a', 'a2'));

      await until(() => calls.includes('a2'), 'the next job');
      expect(calls).toEqual(['a1', 'a1', 'a1', 'a2']);
      expect(await bus.deadLetters()).toEqual([{ message: failing, reason: 'disk full', at: AT }]);
    });

    it('treats a synchronous throw or a non-Error rejection like any failure', async () => {
      open({ maxAttempts: 2 });
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
      const reasons = (await bus.deadLetters()).map((letter) => letter.reason).sort();
      expect(reasons).toEqual(['plain string', 'sync']);
    });

    it('dead-letters malformed jobs without calling the handler and keeps consuming', async () => {
      open();
      const seen: string[] = [];
      await bus.consumeJobs(async (job) => {
        seen.push(job.jobId);
      });
      await bus.publishJob({ kind: 'backup', key: 'a', attempt: 1, payload: {} } as unknown as Job);
      await bus.publishJob({ ...backupJob('a', 'x'), kind: 'teleport' } as unknown as Job);
      await bus.publishJob('not a job' as unknown as Job);
      await bus.publishJob(backupJob('a', 'a1'));

      await until(() => seen.length === 1, 'the valid job');
      expect(seen).toEqual(['a1']);
      const letters = await bus.deadLetters();
      expect(letters.map((letter) => letter.reason)).toEqual([
        'malformed job: jobId must be a non-empty string',
        'malformed job: unknown kind',
        'malformed job: not an object',
      ]);
      expect(letters[2].message).toBe('not a job');
    });

    it('returns copies of the dead letters', async () => {
      open();
      await bus.publishJob({ jobId: 'x' } as unknown as Job);
      const [first] = await bus.deadLetters();
      (first.message as { jobId: string }).jobId = 'changed';
      first.reason = 'changed';

      const [again] = await bus.deadLetters();
      expect(again.message).toEqual({ jobId: 'x' });
      expect(again.reason).toMatch(/^malformed job: /);
    });
  });

  describe('statuses', () => {
    it('delivers statuses in publish order, one at a time, buffering until the consumer registers', async () => {
      open({ concurrency: 4 });
      for (let i = 1; i <= 5; i++) await bus.publishStatus(status(`j${i}`));
      const log: string[] = [];
      let active = 0;
      let maxActive = 0;
      await bus.consumeStatuses(async (message) => {
        active += 1;
        maxActive = Math.max(maxActive, active);
        log.push(message.jobId);
        await tick(1);
        active -= 1;
      });
      await bus.publishStatus(status('j6', 'completed'));

      await until(() => log.length === 6, 'six statuses');
      expect(log).toEqual(['j1', 'j2', 'j3', 'j4', 'j5', 'j6']);
      expect(maxActive).toBe(1);
    });

    it('retries a failing status while later statuses wait, and dead-letters malformed ones', async () => {
      open({ maxAttempts: 3 });
      const log: string[] = [];
      let failuresLeft = 2;
      await bus.consumeStatuses(async (message) => {
        log.push(message.jobId);
        if (message.jobId === 'j1' && failuresLeft-- > 0) throw new Error('store unavailable');
      });
      await bus.publishStatus(status('j1'));
      await bus.publishStatus({ ...status('bad'), status: 'exploded' } as unknown as JobStatusMessage);
      await bus.publishStatus(status('j2'));

      await until(() => log.includes('j2'), 'the second status');
      expect(log).toEqual(['j1', 'j1', 'j1', 'j2']);
      expect((await bus.deadLetters()).map((letter) => letter.reason)).toEqual(['malformed status: unknown status']);
    });

    it('dead-letters a status that keeps failing', async () => {
      open({ maxAttempts: 2 });
      await bus.consumeStatuses(async () => {
        throw new Error('projection broken');
      });
      await bus.publishStatus(status('j1'));

      await until(async () => (await bus.deadLetters()).length === 1, 'a dead letter');
      expect(await bus.deadLetters()).toEqual([{ message: status('j1'), reason: 'projection broken', at: AT }]);
    });
  });

  describe('control messages', () => {
    it('gives every control consumer every message, and dead-letters a malformed one', async () => {
      open();
      const first: string[] = [];
      const second: string[] = [];
      await bus.consumeControl(async (message) => {
        first.push(message.jobId);
      });
      const stopSecond = await bus.consumeControl(async (message) => {
        second.push(message.jobId);
      });
      await bus.publishControl({ jobId: 'j1', action: 'cancel', at: AT });
      await stopSecond();
      await bus.publishControl({ jobId: 'j2', action: 'cancel', at: AT });
      await bus.publishControl({ jobId: 'j3', action: 'pause', at: AT } as never);
      expect({ first, second }).toEqual({ first: ['j1', 'j2'], second: ['j1'] });
      expect(await bus.deadLetters()).toEqual([
        { message: { jobId: 'j3', action: 'pause', at: AT }, reason: 'malformed control message: unknown action', at: AT },
      ]);
    });
  });

  describe('consumers and shutdown', () => {
    it('refuses a second consumer while one is registered, and accepts one after unsubscribe', async () => {
      open();
      const unsubscribe = await bus.consumeJobs(async () => undefined);
      await expect(bus.consumeJobs(async () => undefined)).rejects.toThrow(/already registered/);
      await expect(bus.consumeStatuses(async () => undefined)).resolves.toEqual(expect.any(Function));
      await expect(bus.consumeStatuses(async () => undefined)).rejects.toThrow(/status consumer is already registered/);

      await unsubscribe();
      const seen: string[] = [];
      await bus.consumeJobs(async (job) => {
        seen.push(job.jobId);
      });
      await bus.publishJob(backupJob('a', 'a1'));
      await until(() => seen.length === 1, 'the job');
    });

    it('close waits for an in-flight handler and starts nothing new', async () => {
      open();
      const release = deferred();
      const log: string[] = [];
      await bus.consumeJobs(async (job) => {
        log.push(`start ${job.jobId}`);
        await release.promise;
        log.push(`end ${job.jobId}`);
      });
      await bus.publishJob(backupJob('a', 'a1'));
      await bus.publishJob(backupJob('a', 'a2'));
      await until(() => log.length === 1, 'the first job to start');

      let closed = false;
      const closing = bus.close().then(() => (closed = true));
      await tick(5);
      expect(closed).toBe(false);

      release.resolve();
      await closing;
      expect(log).toEqual(['start a1', 'end a1']);
      await expect(bus.publishJob(backupJob('a', 'a3'))).rejects.toThrow(/closed/);
      await expect(bus.consumeJobs(async () => undefined)).rejects.toThrow(/closed/);
    });

    it('close cancels a pending backoff instead of waiting for it', async () => {
      open({ maxAttempts: 5, baseDelayMs: 60_000, maxDelayMs: 60_000 });
      let calls = 0;
      await bus.consumeJobs(async () => {
        calls += 1;
        throw new Error('down');
      });
      await bus.publishJob(backupJob('a', 'a1'));
      await until(() => calls === 1, 'the first attempt');

      // With the timer still pending this would take a minute and fail the test timeout.
      await bus.close();
      expect(calls).toBe(1);
      expect(await bus.deadLetters()).toEqual([]);
    });

    it('hands a job interrupted by unsubscribe to the next consumer first, counting its earlier deliveries', async () => {
      open({ maxAttempts: 2, baseDelayMs: 60_000, maxDelayMs: 60_000 });
      let failed = 0;
      const unsubscribe = await bus.consumeJobs(async () => {
        failed += 1;
        throw new Error('down');
      });
      await bus.publishJob(backupJob('a', 'a1'));
      await bus.publishJob(backupJob('a', 'a2'));
      await until(() => failed === 1, 'the first delivery');
      await unsubscribe(); // cancels the minute-long backoff
      await unsubscribe(); // idempotent

      const seen: string[] = [];
      await bus.consumeJobs(async (job) => {
        seen.push(job.jobId);
        if (job.jobId === 'a1') throw new Error('still down');
      });
      await until(() => seen.length === 2, 'both jobs');
      // a1 had one delivery before the handover, so its second (and last) is the next consumer's.
      expect(seen).toEqual(['a1', 'a2']);
      expect((await bus.deadLetters()).map((letter) => letter.reason)).toEqual(['still down']);
    });

    it('rejects invalid options', () => {
      expect(() => new InProcessJobBus({ concurrency: 0 })).toThrow(RangeError);
      expect(() => new InProcessJobBus({ maxAttempts: 1.5 })).toThrow(RangeError);
      expect(() => new InProcessJobBus({ baseDelayMs: -1 })).toThrow(RangeError);
    });
  });
});

describe('job validation', () => {
  it('accepts each job kind and rejects broken ones', () => {
    expect(isJob(backupJob('a', 'a1'))).toBe(true);
    expect(
      isJob({
        jobId: 'r',
        kind: 'restore',
        key: 's',
        attempt: 1,
        payload: { restoreId: 'r', backupId: 'b', snapshotId: 'n', target: '/t', include: [] },
      }),
    ).toBe(true);
    expect(
      isJob({ jobId: 'v', kind: 'verify', key: 's', attempt: 2, payload: { backupId: 'b', verificationId: 'v', snapshotId: 'n' } }),
    ).toBe(true);

    expect(isJob(null)).toBe(false);
    expect(isJob([])).toBe(false);
    expect(isJob({ ...backupJob('a', 'a1'), key: '' })).toBe(false);
    expect(isJob({ ...backupJob('a', 'a1'), attempt: 0 })).toBe(false);
    expect(isJob({ ...backupJob('a', 'a1'), payload: undefined })).toBe(false);
    expect(isJob({ ...backupJob('a', 'a1'), payload: { backupId: 'b', sourceId: 'a', path: '/d' } })).toBe(false);
    expect(
      isJob({
        jobId: 'r',
        kind: 'restore',
        key: 's',
        attempt: 1,
        payload: { restoreId: 'r', backupId: 'b', snapshotId: 'n', target: '/t', include: [1] },
      }),
    ).toBe(false);
  });

  it('accepts each status and rejects broken ones', () => {
    const base = { jobId: 'j', kind: 'backup', attempt: 1, at: AT };
    expect(isJobStatus({ ...base, status: 'started' })).toBe(true);
    expect(isJobStatus({ ...base, status: 'heartbeat' })).toBe(true);
    expect(isJobStatus({ ...base, status: 'heartbeat', progress: { filesDone: 1, bytesDone: 2, totalFiles: 3, totalBytes: 4 } })).toBe(
      true,
    );
    expect(isJobStatus({ ...base, status: 'completed', result: {} })).toBe(true);
    expect(isJobStatus({ ...base, status: 'failed', failure: { code: 'E', reason: 'r', retryable: false } })).toBe(true);

    expect(isJobStatus({ ...base, status: 'heartbeat', progress: { filesDone: -1, bytesDone: 2, totalFiles: 3, totalBytes: 4 } })).toBe(
      false,
    );
    expect(isJobStatus({ ...base, status: 'completed' })).toBe(false);
    expect(isJobStatus({ ...base, status: 'failed', failure: { code: 'E', reason: 'r' } })).toBe(false);
    expect(isJobStatus({ ...base, at: 'yesterday', status: 'started' })).toBe(false);
    expect(isJobStatus({ ...base, kind: 'purge', status: 'started' })).toBe(false);
    expect(isJobStatus({ ...base, status: 'paused' })).toBe(false);
  });
});
