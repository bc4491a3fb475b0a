import { Clock } from '../../src/application/ports/clock';
import { Job, JobControlMessage, ReceivedJobStatus } from '../../src/application/ports/job-bus';
import { InProcessJobBus, InProcessJobBusOptions } from '../../src/infrastructure/bus/in-process-job-bus';
import { isJob, isJobStatus } from '../../src/infrastructure/bus/job-validation';
import { jobBusContract } from '../contract/job-bus.contract';
import { backupJob, until as waitUntil } from '../contract/job-bus/helpers';

const AT = '2030-01-02T03:04:05.000Z';
const fixedClock: Clock = { now: () => new Date(AT) };

function status(jobId: string, s: 'started' | 'completed' = 'started'): ReceivedJobStatus {
  return s === 'started'
    ? { jobId, kind: 'backup', attempt: 1, at: AT, status: 'started' }
    : { jobId, kind: 'backup', attempt: 1, at: AT, status: 'completed', result: { files: 1 } };
}

const tick = (ms = 0) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const until = (condition: () => boolean | Promise<boolean>, what = 'condition') => waitUntil(condition, what, 10_000);

jobBusContract('InProcessJobBus', {
  open: (options) => new InProcessJobBus({ concurrency: 2, clock: fixedClock, ...options }),
  sameQueues: (bus) => bus,
  concurrency: 2,
  keys: (stem, count) => Array.from({ length: count }, (_, i) => `${stem}-${i}`),
  inject: async (bus, channel, message) => {
    if (channel === 'job') await bus.publishJob(message as Job);
    else if (channel === 'status') await bus.publishStatus(message as ReceivedJobStatus);
    else await bus.publishControl(message as JobControlMessage);
  },
  reasons: {
    handlerFailed: (_attempts, message) => message,
    malformed: (channel, problem) => `malformed ${channel === 'control' ? 'control message' : channel}: ${problem}`,
  },
  deadLetterAt: AT,
  quietMs: 20,
});

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
    it('with the consumer registered first, starts the first job of each key before the second of any', async () => {
      // Per-key order and concurrency are the contract's; this is the in-process scheduler's turn-taking.
      open({ concurrency: 2 });
      const recorder = recordingHandler();
      await bus.consumeJobs(recorder.handler);
      for (const id of ['a1', 'b1', 'a2', 'a3', 'b2', 'b3']) await bus.publishJob(backupJob(id[0], id));

      await until(() => recorder.ends() === 6, 'six jobs');
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
    it("a handler's changes to the job do not reach its retry", async () => {
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
      await bus.publishStatus({ ...status('bad'), status: 'exploded' } as unknown as ReceivedJobStatus);
      await bus.publishStatus(status('j2'));

      await until(() => log.includes('j2'), 'the second status');
      expect(log).toEqual(['j1', 'j1', 'j1', 'j2']);
      expect((await bus.deadLetters()).map((letter) => letter.reason)).toEqual(['malformed status: unknown status']);
    });
  });

  describe('control messages', () => {
    it('hands a control message to every consumer before publishControl resolves', async () => {
      open();
      const first: string[] = [];
      const second: string[] = [];
      await bus.consumeControl(async (message) => {
        first.push(message.jobId);
      });
      await bus.consumeControl(async (message) => {
        second.push(message.jobId);
      });
      await bus.publishControl({ jobId: 'j1', action: 'cancel', at: AT });
      expect({ first, second }).toEqual({ first: ['j1'], second: ['j1'] });
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

    it('refuses to publish or consume once closed', async () => {
      open();
      await bus.close();
      await expect(bus.publishJob(backupJob('a', 'a3'))).rejects.toThrow(/closed/);
      await expect(bus.consumeJobs(async () => undefined)).rejects.toThrow(/closed/);
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
