import { BackoffSchedule, delayBeforeRetry, mayRetry, retry, RetryPolicy } from '../../src/application/retry';
import { ApiCallError, ApiClient } from '../../src/cli/api-client';

/** A sleep that does not wait: it only records what it was asked to wait. */
function recordingSleep(answer: boolean | void = true) {
  const waits: number[] = [];
  return { waits, sleep: async (ms: number) => (waits.push(ms), answer) };
}

/** Fails `failures` times, then answers `value`. */
function flaky<T>(failures: number, value: T) {
  const calls: number[] = [];
  const operation = async (attempt: number) => {
    calls.push(attempt);
    if (calls.length <= failures) throw new Error(`failure ${calls.length}`);
    return value;
  };
  return { calls, operation };
}

describe('retry policies', () => {
  it('computes each backoff kind', () => {
    expect([1, 2, 3].map((n) => delayBeforeRetry({ kind: 'none' }, n))).toEqual([0, 0, 0]);
    expect([1, 2, 3].map((n) => delayBeforeRetry({ kind: 'constant', delayMs: 50 }, n))).toEqual([50, 50, 50]);
    expect([1, 2, 3].map((n) => delayBeforeRetry({ kind: 'linear', stepMs: 300 }, n))).toEqual([300, 600, 900]);
    expect([1, 2, 3, 4].map((n) => delayBeforeRetry({ kind: 'exponential', initialMs: 200 }, n))).toEqual([200, 400, 800, 1600]);
    expect([1, 5, 6, 7].map((n) => delayBeforeRetry({ kind: 'exponential', initialMs: 1_000, maxMs: 30_000 }, n))).toEqual([
      1_000, 16_000, 30_000, 30_000,
    ]);
  });

  it('allows a retry while attempts are left', () => {
    const policy: RetryPolicy = { maxAttempts: 3, backoff: { kind: 'none' } };
    expect([1, 2, 3].map((attempt) => mayRetry(policy, attempt))).toEqual([true, true, false]);
    expect(mayRetry({ maxAttempts: Infinity, backoff: { kind: 'none' } }, 1e9)).toBe(true);
  });

  it('retries until the operation succeeds, waiting what the backoff says', async () => {
    const { waits, sleep } = recordingSleep();
    const { calls, operation } = flaky(2, 'done');

    expect(await retry({ maxAttempts: 3, backoff: { kind: 'linear', stepMs: 300 } }, operation, { sleep })).toBe('done');

    expect(calls).toEqual([1, 2, 3]);
    expect(waits).toEqual([300, 600]);
  });

  it('throws the last failure as it was once the attempts are used up', async () => {
    const { waits, sleep } = recordingSleep();
    const { calls, operation } = flaky(5, 'never');

    await expect(retry({ maxAttempts: 3, backoff: { kind: 'exponential', initialMs: 10 } }, operation, { sleep })).rejects.toThrow(
      'failure 3',
    );

    expect(calls).toEqual([1, 2, 3]);
    expect(waits).toEqual([10, 20]);
  });

  it('does not retry a failure retryIf refuses, and stops when the sleep is given up', async () => {
    const refused = flaky(5, 'never');
    await expect(retry({ maxAttempts: 5, backoff: { kind: 'none' } }, refused.operation, { retryIf: () => false })).rejects.toThrow(
      'failure 1',
    );
    expect(refused.calls).toEqual([1]);

    const stopped = flaky(5, 'never');
    const { waits, sleep } = recordingSleep(false);
    await expect(retry({ maxAttempts: 5, backoff: { kind: 'constant', delayMs: 7 } }, stopped.operation, { sleep })).rejects.toThrow(
      'failure 1',
    );
    expect(waits).toEqual([7]);
  });

  it('schedules the waits of something retried from timers, starting over after a reset', () => {
    const schedule = new BackoffSchedule({ kind: 'exponential', initialMs: 500, maxMs: 30_000 });

    expect(Array.from({ length: 8 }, () => schedule.next())).toEqual([500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
    schedule.reset();
    expect(schedule.next()).toBe(500);
  });
});

describe('ApiClient retries a call that got no answer', () => {
  const connection = { url: 'http://127.0.0.1:1', token: null, actor: null };
  afterEach(() => jest.restoreAllMocks());

  it('sends it again twice, 300 and 600 ms later, then reports the service unreachable', async () => {
    const refused = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    const fetch = jest.spyOn(globalThis, 'fetch').mockRejectedValue(refused);
    const { waits, sleep } = recordingSleep();

    const call = new ApiClient(connection, sleep).get('/sources');

    await expect(call).rejects.toBeInstanceOf(ApiCallError);
    await expect(call).rejects.toMatchObject({ code: 'SERVICE_UNREACHABLE', message: expect.stringContaining('(ECONNREFUSED)') });
    expect(fetch).toHaveBeenCalledTimes(3);
    expect(waits).toEqual([300, 600]);
  });

  it('takes the answer of a later attempt, and never retries an error status (an answer)', async () => {
    const fetch = jest
      .spyOn(globalThis, 'fetch')
      .mockRejectedValueOnce(new TypeError('fetch failed'))
      .mockResolvedValueOnce(new Response(JSON.stringify([{ id: 'a' }]), { status: 200 }))
      .mockResolvedValueOnce(new Response(JSON.stringify({ code: 'NOT_FOUND', message: 'no such source' }), { status: 404 }));
    const { waits, sleep } = recordingSleep();
    const client = new ApiClient(connection, sleep);

    expect(await client.get('/sources')).toEqual([{ id: 'a' }]);
    await expect(client.get('/sources/x')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(fetch).toHaveBeenCalledTimes(3);
    expect(waits).toEqual([300]);
  });
});
