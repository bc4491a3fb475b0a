import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { kafkaTopics } from '../../src/infrastructure/bus/kafka-topics';
import { dropSchema, postgresConnection, uniqueSchema } from './support/postgres';
import { deterministicBytes, kafkaMessages, launch, launchApi, Proc, until, distributedEnv, initRepositoryFor } from './support/processes';
import { uniqueBucketName } from './support/s3';

/**
 * Two `custodia serve` processes behind one schema and one Kafka, as two replicas behind a load
 * balancer, with two workers. Backups and restores are requested through both APIs; the serve
 * that leads the control plane is killed with SIGKILL in the middle of the stream and the other
 * takes over. Every job must be dispatched once (one copy per attempt, but for the one event
 * the killed leader may have been handling), every backup and restore must end once, every
 * integration event must be published once but for the relay's batch in flight at the kill
 * (and then with the same id and content), the audit chain must verify, and both APIs must
 * show the same catalog.
 */
const BACKUPS = 12;
const RESTORES = 3;

interface Health {
  leadership: { role: 'leader' | 'standby' };
}

describe('two serve processes: one leads, the other takes over when it dies', () => {
  const schema = uniqueSchema('two_serves');
  const topicPrefix = `two-serves-${randomUUID().slice(0, 8)}`;
  const bucket = uniqueBucketName('two-serves');
  const processes: Proc[] = [];
  let work: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-two-serves-'));
    env = distributedEnv({ schema, topicPrefix, bucket, work }, { LEADER_POLL_INTERVAL_MS: '500' });
    initRepositoryFor(env);
  });

  afterAll(async () => {
    for (const proc of processes) {
      if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
      await proc.exited;
    }
    await dropSchema(schema);
    await fs.rm(work, { recursive: true, force: true });
  });

  const call = async <T = Record<string, unknown>>(base: string, url: string, body?: unknown): Promise<T> => {
    const response = await fetch(`${base}${url}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { 'content-type': 'application/json' },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    if (response.status >= 300) throw new Error(`${url}: ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  };
  const roleOf = async (base: string) => (await call<Health>(base, '/health')).leadership.role;
  const settled = (base: string, url: string) =>
    until(
      `${url} to settle`,
      async () => {
        const body = await call<{ status: string }>(base, url);
        return ['completed', 'failed', 'cancelled'].includes(body.status) ? body : undefined;
      },
      180_000,
    );

  it('runs each job once and each effect once through a leader killed mid-stream', async () => {
    const first = await launchApi(env);
    const second = await launchApi(env);
    processes.push(first.api, second.api);
    processes.push(launch(['worker'], env), launch(['worker'], env));
    const apis = [first, second];

    // Exactly one leads; both answer.
    const roles = await until(
      'one leader',
      async () => {
        const seen = await Promise.all(apis.map(({ base }) => roleOf(base)));
        return seen.filter((role) => role === 'leader').length === 1 ? seen : undefined;
      },
      30_000,
    );
    const leader = apis[roles.indexOf('leader')];
    const standby = apis[1 - roles.indexOf('leader')];

    const sourceIds: string[] = [];
    for (let s = 0; s < 2; s++) {
      const folder = path.join(work, `source-${s}`);
      await fs.mkdir(folder, { recursive: true });
      for (let f = 0; f < 3; f++) await fs.writeFile(path.join(folder, `file-${f}.bin`), deterministicBytes(`${s}-${f}`, 512 * 1024));
      sourceIds.push((await call<{ id: string }>(apis[s].base, '/sources', { name: `source-${s}`, path: folder })).id);
    }

    // Half the backups through each API while both live, then the leader dies mid-stream.
    const backups: string[] = [];
    for (let n = 0; n < BACKUPS / 2; n++) {
      backups.push((await call<{ id: string }>(apis[n % 2].base, '/backups', { sourceId: sourceIds[n % 2] })).id);
    }
    leader.api.child.kill('SIGKILL');
    await leader.api.exited;
    for (let n = BACKUPS / 2; n < BACKUPS; n++) {
      backups.push((await call<{ id: string }>(standby.base, '/backups', { sourceId: sourceIds[n % 2] })).id);
    }
    await until('the standby to lead', async () => ((await roleOf(standby.base)) === 'leader' ? true : undefined), 60_000);
    for (const id of backups) expect(await settled(standby.base, `/backups/${id}`)).toMatchObject({ status: 'completed' });

    const restores: string[] = [];
    for (let n = 0; n < RESTORES; n++) {
      const target = path.join(String(env.DATA_DIR), 'restores', `restore-${n}`);
      restores.push((await call<{ id: string }>(standby.base, '/restores', { backupId: backups[n], target })).id);
    }
    for (const id of restores) expect(await settled(standby.base, `/restores/${id}`)).toMatchObject({ status: 'completed' });

    // The killed serve comes back as a standby; both show the same catalog.
    const back = await launchApi(env);
    processes.push(back.api);
    expect(await roleOf(back.base)).toBe('standby');
    const catalog = (base: string) => call(base, `/backups?limit=100`);
    expect(await catalog(back.base)).toEqual(await catalog(standby.base));

    // One BackupCompleted per backup and one RestoreCompleted per restore, nothing failed.
    const client = new Client(postgresConnection());
    await client.connect();
    let events: { id: string; stream: string; type: string }[];
    try {
      events = (await client.query(`SELECT id, stream, type FROM "${schema}".events ORDER BY position`)).rows;
    } finally {
      await client.end();
    }
    for (const id of backups) expect(events.filter((e) => e.stream === `backup-${id}` && e.type === 'BackupCompleted')).toHaveLength(1);
    for (const id of restores) expect(events.filter((e) => e.stream === `restore-${id}` && e.type === 'RestoreCompleted')).toHaveLength(1);
    expect(events.filter((e) => e.type.endsWith('Failed'))).toEqual([]);

    // Each job attempt on the bus once; at most one job (the event the killed leader was
    // handling, whose checkpoint it had not saved) twice, never more.
    const topics = kafkaTopics(topicPrefix);
    const copies = new Map<string, number>();
    for (const topic of [topics.jobs.backup, topics.jobs.restore]) {
      for (const line of kafkaMessages(String(env.KAFKA_BROKERS), topic)) {
        const job = JSON.parse(line) as { jobId: string; attempt: number };
        const key = `${job.jobId}#${job.attempt}`;
        copies.set(key, (copies.get(key) ?? 0) + 1);
      }
    }
    expect(copies.size).toBeGreaterThanOrEqual(BACKUPS + RESTORES);
    expect(Math.max(...copies.values())).toBeLessThanOrEqual(2);
    expect([...copies.values()].filter((count) => count > 1).length).toBeLessThanOrEqual(1);

    // Integration events: published once each, but for the relay's batch in flight at the kill,
    // which carries the same ids and content again; nothing appended after the take-over twice.
    const published = await until(
      'every restore completion on the integration topic',
      async () => {
        const lines = kafkaMessages(String(env.KAFKA_BROKERS), topics.integrationEvents).map(
          (line) => JSON.parse(line) as { id: string; type: string },
        );
        const completed = lines.filter((event) => event.type === 'custodia.restore.completed').length;
        return completed >= RESTORES ? lines : undefined;
      },
      60_000,
    );
    const byId = new Map<string, string[]>();
    for (const event of published) byId.set(event.id, [...(byId.get(event.id) ?? []), JSON.stringify(event)]);
    for (const versions of byId.values()) expect(new Set(versions).size).toBe(1);
    const restoreStreams = new Set(restores.map((id) => `restore-${id}`));
    const afterTakeover = events.filter((event) => restoreStreams.has(event.stream)).map((event) => event.id);
    for (const id of afterTakeover) expect(byId.get(id)?.length ?? 0).toBeLessThanOrEqual(1);

    // The audit chain verifies.
    const verified = await call<{ valid: boolean; entries: number }>(standby.base, '/audit/verify');
    expect(verified.valid).toBe(true);
    expect(verified.entries).toBeGreaterThan(BACKUPS);
  }, 600_000);
});
