import { Admin, Consumer, IHeaders, Kafka, KafkaJSError, KafkaMessage, logLevel, Producer } from 'kafkajs';
import { randomUUID } from 'node:crypto';
import { DeadLetter, Job, JobBus, JobControlMessage, ReceivedJobStatus, Unsubscribe } from '../../application/ports/job-bus';
import { delayBeforeRetry, mayRetry, retry, RetryPolicy } from '../../application/retry';
import { jobControlProblem, jobProblem, jobStatusProblem } from './job-validation';
import { KafkaTopics, kafkaTopics } from './kafka-topics';

export interface KafkaJobBusOptions {
  brokers: string[];
  clientId?: string;
  topicPrefix?: string;
  /** Partitions of each job topic: the most workers that can run jobs at once. */
  partitions?: number;
  replicationFactor?: number;
  /** Consumer group of the workers, and of the control plane reading job statuses. */
  workerGroup?: string;
  controlGroup?: string;
  /** Partitions one consumer works on at once (jobs of one key stay in order: one partition). */
  concurrency?: number;
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** How long the group waits for a silent consumer (a killed worker) before moving its partitions. */
  sessionTimeoutMs?: number;
}

const REQUIRED_DEFAULTS = {
  clientId: 'custodia',
  topicPrefix: 'custodia',
  partitions: 6,
  replicationFactor: 1,
  workerGroup: 'custodia-workers',
  controlGroup: 'custodia-control-plane',
  concurrency: 2,
  maxAttempts: 5,
  baseDelayMs: 200,
  maxDelayMs: 10_000,
  sessionTimeoutMs: 30_000,
};

/** Reading the dead-letter topic's offsets: a transient (retriable) broker error is tried again. */
const OFFSETS_RETRY: RetryPolicy = { maxAttempts: 6, backoff: { kind: 'exponential', initialMs: 200 } };
/**
 * The job bus on Kafka. Jobs are keyed by source, so one source's jobs share a partition and
 * are handled in order; offsets are committed only after a message was handled, so delivery
 * is at least once (a worker that dies mid-job leaves the job to the next owner of the
 * partition). A handler that throws is retried with backoff, heart-beating the group meanwhile;
 * after the last attempt, or at once for a malformed message, the message goes to the
 * dead-letter topic with the reason in a header, and consumption goes on. Closing (or
 * unsubscribing) waits for running handlers but cancels a pending retry: that message stays
 * uncommitted, so the next consumer of its partition gets it first.
 */
export class KafkaJobBus implements JobBus {
  /** The jobs topic keeps a job until a worker commits its offset. */
  readonly keepsQueuedJobs = true;
  readonly topics: KafkaTopics;
  private readonly options: typeof REQUIRED_DEFAULTS & KafkaJobBusOptions;
  private readonly kafka: Kafka;
  private readonly handlerRetry: RetryPolicy;
  private producer: Producer | null = null;
  /** Running consumers, each with the signal that tells its retry loops to stop waiting. */
  private readonly consumers = new Map<Consumer, AbortController>();
  private ready: Promise<void> | null = null;

  constructor(options: KafkaJobBusOptions) {
    this.options = { ...REQUIRED_DEFAULTS, ...stripUndefined(options), brokers: options.brokers };
    this.topics = kafkaTopics(this.options.topicPrefix);
    this.handlerRetry = {
      maxAttempts: this.options.maxAttempts,
      backoff: { kind: 'exponential', initialMs: this.options.baseDelayMs, maxMs: this.options.maxDelayMs },
    };
    this.kafka = new Kafka({
      clientId: this.options.clientId,
      brokers: options.brokers,
      // Failures reach the caller as errors (and the start-up error names the broker); kafkajs's
      // own log would repeat every connection retry as a JSON line with a stack.
      logLevel: logLevel.NOTHING,
      retry: { retries: 8, initialRetryTime: 200 },
    });
  }

  /** Connects the producer and creates the topics if missing; safe to call more than once. */
  start(): Promise<void> {
    this.ready ??= this.connect().catch((error: unknown) => {
      this.ready = null;
      throw error;
    });
    return this.ready;
  }

  async publishJob(job: Job): Promise<void> {
    await this.send(this.topics.jobs[job.kind], job.key, job);
  }

  async publishStatus(status: ReceivedJobStatus): Promise<void> {
    await this.send(this.topics.jobStatus, status.jobId, status);
  }

  consumeJobs(handler: (job: Job) => Promise<void>): Promise<Unsubscribe> {
    return this.consume(
      this.options.workerGroup,
      Object.values(this.topics.jobs),
      jobProblem,
      handler as (value: unknown) => Promise<void>,
    );
  }

  consumeStatuses(handler: (status: ReceivedJobStatus) => Promise<void>): Promise<Unsubscribe> {
    return this.consume(this.options.controlGroup, [this.topics.jobStatus], jobStatusProblem, handler as (value: unknown) => Promise<void>);
  }

  async publishControl(message: JobControlMessage): Promise<void> {
    await this.send(this.topics.jobControl, message.jobId, message);
  }

  /**
   * Each worker reads the control topic in a consumer group of its own, so every worker sees every
   * message. A new group starts at the topic's beginning: a worker that starts late still learns
   * of a cancel for a job that waits in its partition (unless it takes that job before it has
   * read that far: the control plane then discards the snapshot). The topic keeps a day of
   * messages, and a worker that stops deletes its group.
   */
  async consumeControl(handler: (message: JobControlMessage) => Promise<void>): Promise<Unsubscribe> {
    const group = `${this.options.workerGroup}-control-${randomUUID()}`;
    const unsubscribe = await this.consume(
      group,
      [this.topics.jobControl],
      jobControlProblem,
      handler as (value: unknown) => Promise<void>,
    );
    return async () => {
      await unsubscribe();
      // The group was this worker's alone: leave no empty group behind on the broker.
      const admin = this.kafka.admin();
      await admin
        .connect()
        .then(() => admin.deleteGroups([group]))
        .catch(() => undefined)
        .finally(() => admin.disconnect());
    };
  }

  /** Reads the whole dead-letter topic (a fresh, throw-away consumer group). */
  async deadLetters(): Promise<DeadLetter[]> {
    await this.start();
    const ends = await retry(
      OFFSETS_RETRY,
      async () => {
        const admin = this.kafka.admin();
        await admin.connect();
        return admin.fetchTopicOffsets(this.topics.deadLetter).finally(() => admin.disconnect());
      },
      // A broker just started, or moving a partition's leader, answers "not the leader" for a moment.
      { retryIf: (error) => (error as { retriable?: unknown }).retriable === true },
    );
    const wanted = new Map(ends.filter((end) => Number(end.high) > Number(end.low)).map((end) => [end.partition, Number(end.high)]));
    if (wanted.size === 0) return [];
    const letters: DeadLetter[] = [];
    const consumer = this.kafka.consumer({ groupId: `${this.options.clientId}-dead-letter-reader-${process.pid}-${Date.now()}` });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [this.topics.deadLetter], fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        // A consumer that crashes after run() resolved would otherwise leave this waiting forever.
        consumer.on(consumer.events.CRASH, ({ payload }) => reject(payload.error));
        consumer
          .run({
            // Nothing committed: the throw-away group leaves no offsets behind on the broker.
            autoCommit: false,
            eachMessage: async ({ partition, message }) => {
              letters.push(toDeadLetter(message));
              if (Number(message.offset) + 1 >= (wanted.get(partition) ?? 0)) wanted.delete(partition);
              if (wanted.size === 0) resolve();
            },
          })
          .catch(reject);
      });
    } finally {
      await consumer.disconnect();
    }
    return letters;
  }

  async close(): Promise<void> {
    const consumers = [...this.consumers];
    this.consumers.clear();
    await Promise.all(consumers.map(([consumer, stopping]) => stopConsumer(consumer, stopping)));
    await this.producer?.disconnect();
    this.producer = null;
    this.ready = null;
  }

  private async connect(): Promise<void> {
    // Few retries at start: an unreachable broker should stop the process quickly and clearly.
    const admin: Admin = this.kafka.admin({ retry: { retries: 3, initialRetryTime: 300 } });
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      const all = [
        ...Object.values(this.topics.jobs),
        this.topics.jobStatus,
        this.topics.jobControl,
        this.topics.deadLetter,
        this.topics.integrationEvents,
      ];
      const topics = all
        .filter((topic) => !existing.has(topic))
        .map((topic) =>
          topic === this.topics.jobControl
            ? // Every worker reads all of it: one partition, and only a day of it.
              {
                topic,
                numPartitions: 1,
                replicationFactor: this.options.replicationFactor,
                configEntries: [{ name: 'retention.ms', value: String(86_400_000) }],
              }
            : { topic, numPartitions: this.options.partitions, replicationFactor: this.options.replicationFactor },
        );
      // Not kafkajs's waitForLeaders: it gives up at once when the broker answers "does not host
      // this topic-partition", which a KRaft broker does for a moment after the controller created
      // the topic (often under load), and it does not wait at all when another instance created
      // the topics first (TOPIC_ALREADY_EXISTS).
      if (topics.length > 0) await admin.createTopics({ topics, waitForLeaders: false });
      await waitForTopics(admin, all);
    } finally {
      await admin.disconnect();
    }
    this.producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await this.producer.connect();
  }

  private async send(topic: string, key: string, value: unknown): Promise<void> {
    await this.sendRaw(topic, key, JSON.stringify(value), {});
  }

  private async sendRaw(topic: string, key: Buffer | string | null, value: Buffer | string | null, headers: IHeaders): Promise<void> {
    await this.start();
    if (!this.producer) throw new Error('Kafka producer is closed');
    await this.producer.send({ topic, acks: -1, messages: [{ key, value, headers }] });
  }

  private async consume(
    groupId: string,
    topics: string[],
    problemWith: (value: unknown) => string | undefined,
    handler: (value: unknown) => Promise<void>,
  ): Promise<Unsubscribe> {
    await this.start();
    const consumer = this.kafka.consumer({
      groupId,
      sessionTimeout: this.options.sessionTimeoutMs,
      heartbeatInterval: this.heartbeatIntervalMs(),
      rebalanceTimeout: 60_000,
    });
    const stopping = new AbortController();
    this.consumers.set(consumer, stopping);
    try {
      await consumer.connect();
      await consumer.subscribe({ topics, fromBeginning: true });
      await consumer.run({
        partitionsConsumedConcurrently: this.options.concurrency,
        // Commit after every handled message, not only at the end of a fetched batch: a worker
        // that dies (or is dropped from the group) then costs a re-run of the job it was on, not
        // of every job of the batch it had already finished.
        autoCommitThreshold: 1,
        eachMessage: async ({ topic, message, heartbeat }) => {
          let value: unknown;
          try {
            value = JSON.parse(message.value?.toString('utf8') ?? '');
          } catch {
            return this.deadLetter(topic, message, 'malformed message: not JSON');
          }
          const problem = problemWith(value);
          if (problem) return this.deadLetter(topic, message, `malformed message: ${problem}`);
          await this.handleWithRetries(topic, message, value, handler, heartbeat, stopping.signal);
        },
      });
    } catch (error) {
      // Not left connected (and in the group) when subscribing or joining fails.
      this.consumers.delete(consumer);
      await consumer.disconnect().catch(() => undefined);
      throw error;
    }
    return async () => {
      if (!this.consumers.delete(consumer)) return;
      await stopConsumer(consumer, stopping);
    };
  }

  private async handleWithRetries(
    topic: string,
    message: KafkaMessage,
    value: unknown,
    handler: (value: unknown) => Promise<void>,
    heartbeat: () => Promise<void>,
    stopping: AbortSignal,
  ): Promise<void> {
    // Long jobs must not look like a dead consumer to the group coordinator: beat as often as
    // the consumer would between messages (a fixed 3 s is too rare for a short session timeout).
    const beat = setInterval(() => heartbeat().catch(() => undefined), this.heartbeatIntervalMs());
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          await handler(value);
          return;
        } catch (error) {
          if (!mayRetry(this.handlerRetry, attempt)) {
            return this.deadLetter(
              topic,
              message,
              `handler failed ${attempt} times: ${error instanceof Error ? error.message : String(error)}`,
            );
          }
          const delay = delayBeforeRetry(this.handlerRetry.backoff, attempt);
          // Stopping: no waiting out the backoff. Throwing leaves the offset uncommitted (kafkajs
          // resolves it only when eachMessage returns), so the next owner of the partition
          // retries the message first.
          if (!(await sleep(delay, stopping))) throw new ConsumerStopping();
        }
      }
    } finally {
      clearInterval(beat);
    }
  }

  /** A third of the session timeout at most (as Kafka recommends), and at least every 3 s. */
  private heartbeatIntervalMs(): number {
    return Math.min(3_000, Math.floor(this.options.sessionTimeoutMs / 3));
  }

  private async deadLetter(topic: string, message: KafkaMessage, reason: string): Promise<void> {
    // The key and bytes as they arrived, not re-encoded as a JSON string: what is on the topic
    // can be replayed as is, and deadLetters() gives back the message that was published.
    await this.sendRaw(this.topics.deadLetter, message.key, message.value, {
      'custodia-reason': reason.slice(0, 1000),
      'custodia-source-topic': topic,
      'custodia-at': new Date().toISOString(),
    });
  }
}

/**
 * Thrown out of eachMessage when the consumer stops during a retry backoff. A KafkaJSError, so
 * kafkajs does not log it as a failed handler; retriable, so its runner just winds down.
 */
class ConsumerStopping extends KafkaJSError {
  constructor() {
    super('the consumer is stopping: the message is left for the next consumer', { retriable: true });
  }
}

/** Wakes the consumer's retry backoffs, then waits for its running handlers and leaves the group. */
async function stopConsumer(consumer: Consumer, stopping: AbortController): Promise<void> {
  stopping.abort();
  await consumer.disconnect();
}

function toDeadLetter(message: KafkaMessage): DeadLetter {
  const header = (name: string) => message.headers?.[name]?.toString() ?? '';
  const text = message.value?.toString('utf8') ?? null;
  let original: unknown = text;
  try {
    if (text !== null) original = JSON.parse(text);
  } catch {
    // keep the raw text: a malformed message is exactly what lands here
  }
  return { message: original, reason: header('custodia-reason'), at: header('custodia-at') };
}

/** Waits until the broker has metadata, with a leader for every partition, of each topic. */
async function waitForTopics(admin: Admin, topics: string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const { topics: metadata } = await admin.fetchTopicMetadata({ topics });
      const ready = metadata.every((topic) => topic.partitions.length > 0 && topic.partitions.every((partition) => partition.leader >= 0));
      if (ready) return;
      if (Date.now() > deadline) throw new Error(`Kafka topics have no leader after ${timeoutMs} ms: ${topics.join(', ')}`);
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    await sleep(100);
  }
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (!signal) return new Promise((resolve) => setTimeout(() => resolve(true), ms));
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const wake = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', wake);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', wake, { once: true });
  });
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
