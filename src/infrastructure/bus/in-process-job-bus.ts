import { Clock, systemClock } from '../../application/ports/clock';
import { DeadLetter, Job, JobBus, JobControlMessage, ReceivedJobStatus, Unsubscribe } from '../../application/ports/job-bus';
import { delayBeforeRetry, mayRetry, RetryPolicy } from '../../application/retry';
import { jobControlProblem, jobProblem, jobStatusProblem } from './job-validation';

export interface InProcessJobBusOptions {
  /** How many keys (sources) are handled at once; jobs of one key never overlap. Default 2. */
  concurrency?: number;
  /** Deliveries of one message before it is dead-lettered. Default 5. */
  maxAttempts?: number;
  /** Delay before the first retry; doubles on each further retry. Default 200. */
  baseDelayMs?: number;
  /** Upper bound of the retry delay. Default 10000. */
  maxDelayMs?: number;
  clock?: Clock;
}

/**
 * The job bus of the embedded mode (API and worker in one process), with the semantics of the
 * Kafka adapter: per-key order, at-least-once delivery with backoff, dead letters for messages
 * that keep failing or are malformed. It keeps everything in memory: messages still queued when
 * the bus closes are dropped, so the control plane must re-issue unfinished jobs from its event
 * store on start. It never logs; what went wrong is in deadLetters().
 */
export class InProcessJobBus implements JobBus {
  /** Its queues are memory: what was queued at a stop is gone. */
  readonly keepsQueuedJobs = false;
  private readonly jobs: PartitionedQueue<Job>;
  private readonly statuses: PartitionedQueue<ReceivedJobStatus>;
  private readonly dead: DeadLetter[] = [];
  private readonly controlHandlers = new Set<(message: JobControlMessage) => Promise<void>>();
  private readonly clock: Clock;
  private closed = false;

  constructor(options: InProcessJobBusOptions = {}) {
    this.clock = options.clock ?? systemClock;
    const retry: RetryPolicy = {
      maxAttempts: positiveInteger('maxAttempts', options.maxAttempts ?? 5),
      backoff: {
        kind: 'exponential',
        initialMs: nonNegative('baseDelayMs', options.baseDelayMs ?? 200),
        maxMs: nonNegative('maxDelayMs', options.maxDelayMs ?? 10_000),
      },
    };
    const deadLetter = (message: unknown, reason: string) => this.deadLetter(message, reason);
    // A redelivery is the message as published, as on Kafka. Job.attempt belongs to the
    // control plane (it re-publishes a failed job with attempt + 1), so the bus leaves it alone.
    const concurrency = positiveInteger('concurrency', options.concurrency ?? 2);
    this.jobs = new PartitionedQueue<Job>({ name: 'job', concurrency, keyOf: (job) => job.key }, retry, deadLetter);
    // Statuses are one ordered stream: a single key, one at a time.
    this.statuses = new PartitionedQueue<ReceivedJobStatus>({ name: 'status', concurrency: 1, keyOf: () => 'statuses' }, retry, deadLetter);
  }

  async publishJob(job: Job): Promise<void> {
    this.assertOpen();
    this.publish(this.jobs, job, 'malformed job', jobProblem(job));
  }

  async consumeJobs(handler: (job: Job) => Promise<void>): Promise<Unsubscribe> {
    this.assertOpen();
    return this.jobs.subscribe(handler);
  }

  async publishStatus(status: ReceivedJobStatus): Promise<void> {
    this.assertOpen();
    this.publish(this.statuses, status, 'malformed status', jobStatusProblem(status));
  }

  async consumeStatuses(handler: (status: ReceivedJobStatus) => Promise<void>): Promise<Unsubscribe> {
    this.assertOpen();
    return this.statuses.subscribe(handler);
  }

  /** Every control consumer gets every message, as each worker does on Kafka; none is retried. */
  async publishControl(message: JobControlMessage): Promise<void> {
    this.assertOpen();
    const problem = jobControlProblem(message);
    if (problem) {
      this.deadLetter(copyOf(message), `malformed control message: ${problem}`);
      return;
    }
    for (const handler of this.controlHandlers) {
      await Promise.resolve();
      await handler(structuredClone(message)).catch((error: unknown) =>
        this.deadLetter(copyOf(message), error instanceof Error ? error.message : String(error)),
      );
    }
  }

  async consumeControl(handler: (message: JobControlMessage) => Promise<void>): Promise<Unsubscribe> {
    this.assertOpen();
    this.controlHandlers.add(handler);
    return async () => {
      this.controlHandlers.delete(handler);
    };
  }

  async deadLetters(): Promise<DeadLetter[]> {
    return this.dead.map((letter) => ({ ...letter, message: copyOf(letter.message) }));
  }

  /**
   * Stops both consumers and waits for running handlers; pending retries are cancelled. A handler
   * must not await close() (or its own unsubscribe): it would wait for itself.
   */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([this.jobs.stop(), this.statuses.stop()]);
  }

  private publish<T>(queue: PartitionedQueue<T>, message: T, label: string, problem: string | undefined): void {
    if (problem) return this.deadLetter(message, `${label}: ${problem}`);
    // Queue a snapshot, as a broker would: later changes by the publisher must not leak into
    // the delivery, and what cannot be serialised could not cross Kafka either.
    let snapshot: T;
    try {
      snapshot = structuredClone(message);
    } catch {
      return this.deadLetter(message, `${label}: not serialisable`);
    }
    queue.enqueue(snapshot);
  }

  private deadLetter(message: unknown, reason: string): void {
    this.dead.push({ message: copyOf(message), reason, at: this.clock.now().toISOString() });
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('InProcessJobBus is closed');
  }
}

interface Lane<T> {
  name: string;
  concurrency: number;
  keyOf(message: T): string;
}

interface Entry<T> {
  message: T;
  /** Kept when a message is handed to the next consumer, so maxAttempts bounds the total. */
  deliveries: number;
}

/** One registered handler, with what it has in flight. */
class Consumer<T> {
  stopped = false;
  stopping?: Promise<void>;
  readonly running = new Set<Promise<void>>();
  private readonly sleeps = new Map<NodeJS.Timeout, () => void>();

  constructor(readonly handler: (message: T) => Promise<void>) {}

  /** Resolves true after `ms`, or false as soon as the consumer stops. */
  sleep(ms: number): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.sleeps.delete(timer);
        resolve(true);
      }, ms);
      this.sleeps.set(timer, () => resolve(false));
    });
  }

  /** Clears the backoff timers so that nothing keeps the process (or jest) alive. */
  cancelSleeps(): void {
    for (const [timer, wake] of this.sleeps) {
      clearTimeout(timer);
      wake();
    }
    this.sleeps.clear();
  }
}

/**
 * Messages partitioned by key: one message per key at a time, in publish order, and at most
 * `concurrency` keys at once. A key keeps its slot while its message waits for a retry, because
 * the next message of that key must not overtake it anyway.
 */
class PartitionedQueue<T> {
  /** Undelivered messages per key; Map order is the order in which keys get a slot. */
  private readonly pending = new Map<string, Entry<T>[]>();
  private readonly busyKeys = new Set<string>();
  private consumer?: Consumer<T>;

  constructor(
    private readonly lane: Lane<T>,
    private readonly retry: RetryPolicy,
    private readonly deadLetter: (message: unknown, reason: string) => void,
  ) {}

  enqueue(message: T): void {
    const key = this.lane.keyOf(message);
    const queue = this.pending.get(key);
    if (queue) queue.push({ message, deliveries: 0 });
    else this.pending.set(key, [{ message, deliveries: 0 }]);
    this.pump();
  }

  subscribe(handler: (message: T) => Promise<void>): Unsubscribe {
    if (this.consumer) {
      throw new Error(`InProcessJobBus: a ${this.lane.name} consumer is already registered (or still stopping); unsubscribe it first`);
    }
    const consumer = new Consumer(handler);
    this.consumer = consumer;
    this.pump();
    return () => this.stopConsumer(consumer);
  }

  /** Stops the current consumer, if any. */
  stop(): Promise<void> {
    return this.consumer ? this.stopConsumer(this.consumer) : Promise.resolve();
  }

  private stopConsumer(consumer: Consumer<T>): Promise<void> {
    consumer.stopping ??= (async () => {
      consumer.stopped = true;
      consumer.cancelSleeps();
      // No new runs start once stopped, so this set only shrinks.
      await Promise.all(consumer.running);
      if (this.consumer === consumer) this.consumer = undefined;
    })();
    return consumer.stopping;
  }

  private pump(): void {
    const consumer = this.consumer;
    if (!consumer || consumer.stopped) return;
    for (const key of [...this.pending.keys()]) {
      if (this.busyKeys.size >= this.lane.concurrency) return;
      const queue = this.pending.get(key);
      if (!queue || this.busyKeys.has(key)) continue;
      const entry = queue.shift() as Entry<T>;
      // Round robin: a key with more messages goes to the back, so one busy source cannot
      // starve the others.
      this.pending.delete(key);
      if (queue.length > 0) this.pending.set(key, queue);
      this.busyKeys.add(key);
      const run = this.run(consumer, key, entry);
      consumer.running.add(run);
      void run.then(() => consumer.running.delete(run));
    }
  }

  /** Never rejects: every outcome ends in success, a dead letter or a requeue. */
  private async run(consumer: Consumer<T>, key: string, entry: Entry<T>): Promise<void> {
    // Never run a handler inside the publisher's (or subscriber's) call stack.
    await Promise.resolve();
    const done = await this.deliver(consumer, entry);
    // Interrupted by unsubscribe: back to the head of its key, so the next consumer gets it
    // first (at least once) and the key's order holds.
    if (!done) this.requeueFront(key, entry);
    this.busyKeys.delete(key);
    this.pump();
  }

  /** Delivers with retries; false when the consumer stopped before the message was done. */
  private async deliver(consumer: Consumer<T>, entry: Entry<T>): Promise<boolean> {
    for (;;) {
      if (consumer.stopped) return false;
      entry.deliveries += 1;
      try {
        // A fresh copy each time: a handler that changed its message must not change the retry.
        await consumer.handler(structuredClone(entry.message));
        return true;
      } catch (error) {
        if (!mayRetry(this.retry, entry.deliveries)) {
          this.deadLetter(entry.message, error instanceof Error ? error.message : String(error));
          return true;
        }
      }
      const delay = delayBeforeRetry(this.retry.backoff, entry.deliveries);
      if (!(await consumer.sleep(delay))) return false;
    }
  }

  private requeueFront(key: string, entry: Entry<T>): void {
    const queue = this.pending.get(key);
    if (queue) queue.unshift(entry);
    else this.pending.set(key, [entry]);
  }
}

/** A deep copy where possible; a malformed message may hold values that cannot be cloned. */
function copyOf(value: unknown): unknown {
  try {
    return structuredClone(value);
  } catch {
    return value;
  }
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`InProcessJobBus: ${name} must be a positive integer`);
  return value;
}

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`InProcessJobBus: ${name} must be a non-negative number`);
  return value;
}
