import { Job } from '../../../src/application/ports/job-bus';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls until `condition` holds; the limit only turns a hang into a clear failure. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

export function backupJob(key: string, jobId: string): Job {
  return { jobId, kind: 'backup', key, attempt: 1, payload: { backupId: `b-${jobId}`, sourceId: key, path: '/data', full: false } };
}

/** Handler that records each delivery's start and end, and how many ran at once (per key too). */
export function recorder(options: { delayMs?: number; name?: string } = {}) {
  const log: { event: 'start' | 'end'; jobId: string; key: string; by: string }[] = [];
  const activeByKey = new Map<string, number>();
  let active = 0;
  let maxActive = 0;
  let maxActivePerKey = 0;
  const handlerFor =
    (by = options.name ?? 'worker') =>
    async (job: Job) => {
      log.push({ event: 'start', jobId: job.jobId, key: job.key, by });
      active += 1;
      maxActive = Math.max(maxActive, active);
      const forKey = (activeByKey.get(job.key) ?? 0) + 1;
      activeByKey.set(job.key, forKey);
      maxActivePerKey = Math.max(maxActivePerKey, forKey);
      await sleep(options.delayMs ?? 0);
      activeByKey.set(job.key, (activeByKey.get(job.key) ?? 1) - 1);
      active -= 1;
      log.push({ event: 'end', jobId: job.jobId, key: job.key, by });
    };
  const ended = (by?: string) =>
    log.filter((entry) => entry.event === 'end' && (by === undefined || entry.by === by)).map((entry) => entry.jobId);
  return {
    handler: handlerFor(),
    handlerFor,
    log,
    ended,
    /** Job ids in the order they were first completed, each once. */
    firstCompletions: () => [...new Set(ended())],
    maxActive: () => maxActive,
    maxActivePerKey: () => maxActivePerKey,
  };
}
