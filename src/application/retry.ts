/**
 * Retry as data. Every place that tries something again describes how in a RetryPolicy (how many
 * tries, how long to wait before each retry) and leaves the counting and the waiting to this
 * module: the jobs process manager, the projection runner, the catch-up subscription, the
 * aggregate store, the API client of the CLI, the job buses and the network event stores'
 * reconnections. Why not cockatiel or p-retry: see the README (libraries).
 */

/** How long to wait before each retry. */
export type Backoff =
  /** Again at once. */
  | { kind: 'none' }
  | { kind: 'constant'; delayMs: number }
  /** `stepMs` before the first retry, twice that before the second, ... */
  | { kind: 'linear'; stepMs: number }
  /** `initialMs` before the first retry, doubling for each further one, at most `maxMs` when given. */
  | { kind: 'exponential'; initialMs: number; maxMs?: number };

export interface RetryPolicy {
  /** Tries in all, the first included; Infinity for something retried until it works. */
  maxAttempts: number;
  backoff: Backoff;
}

/** The wait before retry number `retry` (1: the wait after the first attempt failed). */
export function delayBeforeRetry(backoff: Backoff, retry: number): number {
  switch (backoff.kind) {
    case 'none':
      return 0;
    case 'constant':
      return backoff.delayMs;
    case 'linear':
      return backoff.stepMs * retry;
    case 'exponential': {
      const delay = backoff.initialMs * 2 ** (retry - 1);
      return backoff.maxMs === undefined ? delay : Math.min(backoff.maxMs, delay);
    }
  }
}

/** Whether attempt number `attempt` (from 1), having failed, may be followed by another. */
export function mayRetry(policy: RetryPolicy, attempt: number): boolean {
  return attempt < policy.maxAttempts;
}

/** Waits `ms`; false when the wait was given up (the caller is stopping), which ends the retries. */
export type Sleep = (ms: number) => Promise<boolean | void>;

export const sleep: Sleep = (ms) => new Promise((resolve) => setTimeout(() => resolve(true), ms));

export interface RetryOptions {
  /** Whether a failure may be retried at all; every failure by default. */
  retryIf?: (error: unknown, attempt: number) => boolean;
  /** How to wait between attempts (tests give one that does not wait). */
  sleep?: Sleep;
}

/**
 * Runs `operation` until it succeeds or the policy gives up; then throws the last failure as it
 * was. A sleep that answers false (a stop) also ends it, with the last failure.
 */
export async function retry<T>(policy: RetryPolicy, operation: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const wait = options.sleep ?? sleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      if (!mayRetry(policy, attempt) || (options.retryIf && !options.retryIf(error, attempt))) throw error;
      const delay = delayBeforeRetry(policy.backoff, attempt);
      if (delay > 0 && (await wait(delay)) === false) throw error;
    }
  }
}

/**
 * The backoff of something retried from timers rather than a loop (a lost connection opened
 * again, a dropped subscription): next() is the wait before the next retry, and reset() starts
 * over once it worked.
 */
export class BackoffSchedule {
  private retries = 0;

  constructor(private readonly backoff: Backoff) {}

  next(): number {
    this.retries += 1;
    return delayBeforeRetry(this.backoff, this.retries);
  }

  reset(): void {
    this.retries = 0;
  }
}
