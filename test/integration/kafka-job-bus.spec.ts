import { randomBytes } from 'node:crypto';
import { Admin, Kafka, logLevel, Partitioners, Producer } from 'kafkajs';
import { IntegrationEvent } from '../../src/application/integration/integration-events';
import { JobBus } from '../../src/application/ports/job-bus';
import { KafkaIntegrationPublisher } from '../../src/infrastructure/bus/kafka-integration-publisher';
import { KafkaJobBus, KafkaJobBusOptions } from '../../src/infrastructure/bus/kafka-job-bus';
import { Channel, jobBusContract } from '../contract/job-bus.contract';
import { backupJob, deferred, recorder, sleep, until } from '../contract/job-bus/helpers';

/**
 * The Kafka job bus against the broker that `bash scripts/services.sh up` starts (KAFKA_BROKERS
 * overrides it). The JobBus contract states the port's rules; the cases below are Kafka's own:
 * topics, raw poison bytes, the dead-letter topic, commits, control groups, rebalancing. Every
 * scenario has its own topic prefix and consumer groups, so no test sees another's messages; all
 * names carry a per-run id and are deleted at the end.
 *
 * kafkajs group joins take a while, so a scenario opens as few consumers as it needs.
 */
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const PARTITIONS = 3;
const AT = '2030-01-02T03:04:05.000Z';

const run = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const namePrefix = `it-bus-${run}`;
const kafka = new Kafka({ clientId: 'custodia-it-bus', brokers, logLevel: logLevel.NOTHING });

/** The partition kafkajs' default partitioner (the bus's producer) puts `key` in. */
const defaultPartitioner = Partitioners.DefaultPartitioner();
function partitionOf(key: string, partitions = PARTITIONS): number {
  const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({
    partitionId,
    leader: 1,
    partitionErrorCode: 0,
    replicas: [1],
    isr: [1],
  }));
  return defaultPartitioner({ topic: 'any', partitionMetadata, message: { key, value: null } });
}

/** One key per partition, named `${stem}-<n>`, so that a scenario spreads over all partitions. */
function keysOnEveryPartition(stem: string): string[] {
  const byPartition = new Map<number, string>();
  for (let i = 0; byPartition.size < PARTITIONS; i++) {
    const key = `${stem}-${i}`;
    if (!byPartition.has(partitionOf(key))) byPartition.set(partitionOf(key), key);
  }
  return [...byPartition.entries()].sort(([a], [b]) => a - b).map(([, key]) => key);
}

let admin: Admin;
let producer: Producer;
const buses: KafkaJobBus[] = [];
/** Each bus's scenario, so that another instance on the same topics and groups can be opened. */
const scenarios = new Map<JobBus, { name: string; options: Partial<KafkaJobBusOptions> }>();

/** A bus of scenario `name`: a second call with the same name is another instance on the same topics and groups. */
function openBus(name: string, options: Partial<KafkaJobBusOptions> = {}): KafkaJobBus {
  const prefix = `${namePrefix}-${name}`;
  const bus = new KafkaJobBus({
    brokers,
    // Also names the dead-letter reader groups, so the clean-up below finds them.
    clientId: prefix,
    topicPrefix: prefix,
    partitions: PARTITIONS,
    workerGroup: `${prefix}-workers`,
    controlGroup: `${prefix}-control`,
    concurrency: PARTITIONS,
    maxAttempts: 3,
    baseDelayMs: 20,
    maxDelayMs: 100,
    ...options,
  });
  buses.push(bus);
  scenarios.set(bus, { name, options });
  return bus;
}

beforeAll(async () => {
  admin = kafka.admin();
  await admin.connect();
  producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
});

afterAll(async () => {
  await Promise.all(buses.map((bus) => bus.close().catch(() => undefined)));
  await producer?.disconnect();
  if (admin) {
    const topics = (await admin.listTopics()).filter((topic) => topic.startsWith(namePrefix));
    if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => undefined);
    const { groups } = await admin.listGroups();
    const groupIds = groups.map((group) => group.groupId).filter((groupId) => groupId.startsWith(namePrefix));
    if (groupIds.length > 0) await admin.deleteGroups(groupIds).catch(() => undefined);
    await admin.disconnect();
  }
});

let contractScenarios = 0;
jobBusContract('KafkaJobBus against the test broker', {
  open: (options) => openBus(`contract-${++contractScenarios}`, options),
  sameQueues: (bus) => {
    const scenario = scenarios.get(bus);
    if (!scenario) throw new Error('not a bus of this spec');
    return openBus(scenario.name, scenario.options);
  },
  concurrency: PARTITIONS,
  keys: (stem, count) => keysOnEveryPartition(stem).slice(0, count),
  inject: async (bus, channel: Channel, message) => {
    const kafkaBus = bus as KafkaJobBus;
    await kafkaBus.start(); // the topics, with their partitions, before anything is sent to them
    const topic = { job: kafkaBus.topics.jobs.backup, status: kafkaBus.topics.jobStatus, control: kafkaBus.topics.jobControl }[channel];
    const jobId = (message as { jobId?: unknown } | null)?.jobId;
    const key = channel === 'job' ? 'poison-source' : String(jobId);
    await producer.send({ topic, messages: [{ key, value: JSON.stringify(message) }] });
  },
  reasons: {
    handlerFailed: (attempts, message) => `handler failed ${attempts} times: ${message}`,
    malformed: (_channel, problem) => `malformed message: ${problem}`,
  },
  deadLetterAt: expect.any(String),
  quietMs: 500,
});

describe('KafkaJobBus against the test broker', () => {
  /** Lets blocked handlers finish when a test failed early, so that closing the buses cannot hang. */
  const unblock: (() => void)[] = [];

  /** Messages in the dead-letter topic, from the broker's offsets (no consumer group needed). */
  async function deadLetterCount(bus: KafkaJobBus): Promise<number> {
    const offsets = await admin.fetchTopicOffsets(bus.topics.deadLetter);
    return offsets.reduce((sum, partition) => sum + Number(partition.high) - Number(partition.low), 0);
  }

  async function committedOffset(groupId: string, topic: string, partition: number): Promise<number> {
    const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return Number(offsets.partitions.find((entry) => entry.partition === partition)?.offset ?? -1);
  }

  afterAll(() => {
    for (const release of unblock) release();
  });

  it('creates its topics at start with the configured partitions, also when two instances start at once', async () => {
    const bus = openBus('topics');
    const other = openBus('topics');
    await Promise.all([bus.start(), other.start()]);
    await bus.start(); // safe to call again

    const expected = [...Object.values(bus.topics.jobs), bus.topics.jobStatus, bus.topics.deadLetter, bus.topics.integrationEvents];
    expect(expected).toHaveLength(8);
    expect(await admin.listTopics()).toEqual(expect.arrayContaining(expected));
    const { topics } = await admin.fetchTopicMetadata({ topics: expected });
    for (const topic of topics)
      expect({ topic: topic.name, partitions: topic.partitions.length }).toEqual({ topic: topic.name, partitions: 3 });
  });

  describe('poison bytes and the dead-letter topic (one worker)', () => {
    // Retries, dead letters and malformed JSON messages are the contract's; these are Kafka's own.
    let bus: KafkaJobBus;
    const deliveries: string[] = [];

    beforeAll(async () => {
      bus = openBus('failures', { maxAttempts: 3, baseDelayMs: 50, maxDelayMs: 1_000 });
      await bus.consumeJobs(async (job) => {
        deliveries.push(job.jobId);
        if (job.jobId.startsWith('doomed')) throw new Error('disk full');
      });
    });

    it('dead-letters bytes that are not JSON, and an empty value, as malformed without calling the handler', async () => {
      const topic = bus.topics.jobs.backup;
      const key = 'poison-source';
      await producer.send({
        topic,
        messages: [
          { key, value: Buffer.from('this is {not JSON', 'utf8') },
          { key, value: null },
        ],
      });
      await bus.publishJob(backupJob(key, 'after-poison'));
      await bus.publishJob(backupJob('doomed-source', 'doomed-1'));

      await until(() => deliveries.includes('after-poison'), 'the valid job after the poison');
      expect(deliveries.filter((jobId) => jobId.startsWith('poison'))).toEqual([]);
      await until(async () => (await deadLetterCount(bus)) === 3, 'three dead letters');
      const letters = (await bus.deadLetters()).filter((letter) => letter.reason.startsWith('malformed'));
      expect(letters).toEqual([
        { message: 'this is {not JSON', reason: 'malformed message: not JSON', at: expect.any(String) },
        { message: null, reason: 'malformed message: not JSON', at: expect.any(String) },
      ]);
    });

    it('keeps the original message and its origin on the dead-letter topic', async () => {
      const consumer = kafka.consumer({ groupId: `${namePrefix}-failures-dead-letter-reader`, maxWaitTimeInMs: 100 });
      await consumer.connect();
      await consumer.subscribe({ topic: bus.topics.deadLetter, fromBeginning: true });
      const raw: { key: string | null; value: string | null; headers: Record<string, string> }[] = [];
      await consumer.run({
        eachMessage: async ({ message }) => {
          const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([name, value]) => [name, String(value)]));
          raw.push({ key: message.key?.toString() ?? null, value: message.value?.toString() ?? null, headers });
        },
      });
      await until(() => raw.length === 3, 'three dead letters').finally(() => consumer.disconnect());

      const poison = raw.find((letter) => letter.headers['custodia-reason'] === 'malformed message: not JSON' && letter.value !== null);
      // The bytes as they were published, so a fixed message can be replayed as is.
      expect(poison).toMatchObject({ key: 'poison-source', value: 'this is {not JSON' });
      expect(poison?.headers['custodia-source-topic']).toBe(bus.topics.jobs.backup);
      const doomed = raw.find((letter) => letter.key === 'doomed-source');
      expect(JSON.parse(doomed?.value ?? 'null')).toEqual(backupJob('doomed-source', 'doomed-1'));
    });
  });

  it('gives every worker every control message, also one published before it started, on a one-partition topic', async () => {
    const bus = openBus('control');
    const other = openBus('control'); // a second worker process on the same topics
    await bus.publishControl({ jobId: 'queued-job', action: 'cancel', at: AT });
    const seen: Record<string, string[]> = { first: [], second: [] };
    const stopFirst = await bus.consumeControl(async (message) => {
      seen.first.push(message.jobId);
    });
    const stopSecond = await other.consumeControl(async (message) => {
      seen.second.push(message.jobId);
    });
    await bus.publishControl({ jobId: 'running-job', action: 'cancel', at: AT });
    await until(() => seen.first.length === 2 && seen.second.length === 2, 'both workers to see both cancels');
    expect(seen).toEqual({ first: ['queued-job', 'running-job'], second: ['queued-job', 'running-job'] });
    const { topics } = await admin.fetchTopicMetadata({ topics: [bus.topics.jobControl] });
    expect(topics[0].partitions).toHaveLength(1);
    // Each worker's group is its own, and goes when the worker stops.
    const controlGroups = async () =>
      (await admin.listGroups()).groups.filter((group) => group.groupId.startsWith(`${namePrefix}-control-workers-control-`));
    expect(await controlGroups()).toHaveLength(2);
    await stopFirst();
    await stopSecond();
    expect(await controlGroups()).toEqual([]);
  });

  it('close() waits for a running handler and commits its offset, so the next consumer does not get it again', async () => {
    const key = 'shutdown-source';
    const first = openBus('shutdown');
    const release = deferred();
    unblock.push(release.resolve);
    const started: string[] = [];
    const ended: string[] = [];
    // Published first, so that the consumer fetches all three in one batch.
    for (const jobId of ['s-1', 's-2', 's-3']) await first.publishJob(backupJob(key, jobId));
    await first.consumeJobs(async (job) => {
      started.push(job.jobId);
      if (job.jobId === 's-2') await release.promise;
      ended.push(job.jobId);
    });
    await until(() => started.includes('s-2'), 'the second job to start');
    // Each handled job is committed at once, not at the end of its batch: a worker that died
    // now would cost a re-run of s-2 only.
    const groupId = `${namePrefix}-shutdown-workers`;
    const partition = partitionOf(key);
    await until(async () => (await committedOffset(groupId, first.topics.jobs.backup, partition)) === 1, 's-1 committed', 5_000);

    let closed = false;
    const closing = first.close().then(() => (closed = true));
    await sleep(1_000);
    expect(closed).toBe(false);
    release.resolve();
    await closing;
    expect(ended).toEqual(['s-1', 's-2']);
    expect(started).toEqual(['s-1', 's-2']); // nothing new started once closing
    expect(await committedOffset(groupId, first.topics.jobs.backup, partition)).toBe(2);

    const second = openBus('shutdown');
    const seen: string[] = [];
    await second.consumeJobs(async (job) => {
      seen.push(job.jobId);
    });
    await second.publishJob(backupJob(key, 's-4'));
    await until(() => seen.includes('s-4'), 'the job published after the restart');
    expect(seen).toEqual(['s-3', 's-4']);
  });

  it('close() cancels a pending retry backoff, leaving the job uncommitted for the next consumer', async () => {
    const key = 'backoff-source';
    const first = openBus('backoff', { maxAttempts: 3, baseDelayMs: 60_000, maxDelayMs: 60_000 });
    let failures = 0;
    await first.consumeJobs(async () => {
      failures += 1;
      throw new Error('down');
    });
    await first.publishJob(backupJob(key, 'x-1'));
    await until(() => failures === 1, 'the first delivery');

    const before = Date.now();
    await first.close(); // without the cancellation this waits a minute and more
    expect(Date.now() - before).toBeLessThan(15_000);
    expect(failures).toBe(1);
    expect(await deadLetterCount(first)).toBe(0);

    const second = openBus('backoff');
    const seen: string[] = [];
    await second.consumeJobs(async (job) => {
      seen.push(job.jobId);
    });
    await until(() => seen.length === 1, 'the interrupted job');
    expect(seen).toEqual(['x-1']);
    expect(failures).toBe(1); // the closed consumer did not come back to life
    expect(await deadLetterCount(second)).toBe(0);
  });

  it('shares the partitions between two consumers of the group across a rebalance, losing no job', async () => {
    const keys = keysOnEveryPartition('rebalance');
    const a = openBus('rebalance');
    const b = openBus('rebalance');
    const jobs = recorder({ delayMs: 30 });
    const published: string[] = [];
    const publish = async (from: number, to: number) => {
      for (let i = from; i <= to; i++) {
        for (const key of keys) {
          await a.publishJob(backupJob(key, `${key}/${i}`));
          published.push(`${key}/${i}`);
        }
      }
    };

    await a.consumeJobs(jobs.handlerFor('a'));
    await publish(1, 6);
    await until(() => jobs.ended('a').length >= 2, 'work on the first consumer');
    await b.consumeJobs(jobs.handlerFor('b')); // joins while the first is mid-stream: a rebalance
    const { groups } = await admin.describeGroups([`${namePrefix}-rebalance-workers`]);
    expect(groups[0].members).toHaveLength(2);
    const firstBatch = [...published];
    await publish(7, 12);
    const secondBatch = published.filter((jobId) => !firstBatch.includes(jobId));

    await until(() => published.every((jobId) => jobs.ended().includes(jobId)), 'every job');
    // Both members own partitions of the backup topic, and the second batch has work on every partition.
    expect(jobs.ended('a').filter((jobId) => secondBatch.includes(jobId))).not.toEqual([]);
    expect(jobs.ended('b').filter((jobId) => secondBatch.includes(jobId))).not.toEqual([]);
    for (const key of keys) {
      expect(jobs.firstCompletions().filter((jobId) => jobId.startsWith(`${key}/`))).toEqual(
        published.filter((jobId) => jobId.startsWith(`${key}/`)),
      );
    }
    expect(jobs.maxActivePerKey()).toBe(1);
  });

  it('KafkaIntegrationPublisher publishes events keyed by subject with their type in a header', async () => {
    // The topic the service wires the publisher to; the bus creates it.
    const bus = openBus('integration');
    await bus.start();
    const topic = bus.topics.integrationEvents;
    const publisher = new KafkaIntegrationPublisher(brokers, topic, 'custodia-it-integration');
    const event = (position: number, type: string, subject: string): IntegrationEvent => ({
      id: `event-${position}`,
      type,
      schemaVersion: 1,
      occurredAt: AT,
      position,
      correlationId: `correlation-${subject}`,
      subject,
      data: { backupId: subject },
    });
    const events = [
      event(1, 'custodia.backup.requested', 'backup-1'),
      event(2, 'custodia.backup.requested', 'backup-2'),
      event(3, 'custodia.backup.started', 'backup-1'),
      event(4, 'custodia.backup.completed', 'backup-1'),
    ];
    try {
      await publisher.publish([]);
      await publisher.publish(events.slice(0, 2));
      await publisher.publish(events.slice(2));
    } finally {
      await publisher.close();
    }

    const consumer = kafka.consumer({ groupId: `${namePrefix}-integration-reader`, maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received: { key: string; headers: Record<string, string>; value: unknown }[] = [];
    await consumer.run({
      eachMessage: async ({ message }) => {
        const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([name, value]) => [name, String(value)]));
        received.push({ key: message.key?.toString() ?? '', headers, value: JSON.parse(message.value?.toString() ?? 'null') });
      },
    });
    await until(() => received.length === events.length, 'every event').finally(() => consumer.disconnect());

    for (const subject of ['backup-1', 'backup-2']) {
      expect(received.filter((message) => message.key === subject)).toEqual(
        events
          .filter((e) => e.subject === subject)
          .map((e) => ({
            key: subject,
            headers: { 'custodia-type': e.type, 'custodia-schema-version': '1', 'custodia-event-id': e.id },
            value: e,
          })),
      );
    }
  });
});
