import { randomBytes, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { check, objectStoreFromLocation, Repository } from '../../src/engine';
import { kafkaTopics } from '../../src/infrastructure/bus/kafka-topics';
import { dropSchema, postgresConnection, uniqueSchema } from './support/postgres';
import { deterministicBytes, kafkaMessages, launch, launchApi, Proc, until, distributedEnv, initRepositoryFor } from './support/processes';
import { uniqueBucketName } from './support/s3';

/**
 * The distributed mode end to end, as separate OS processes on real servers: one API process
 * (`custodia serve`) and two workers (`custodia worker`) over PostgreSQL, Kafka and S3.
 * 20 backups over 4 sources; one worker is killed with SIGKILL in the middle of a backup.
 * Every backup must end completed, exactly once, with the catalog matching the events, and a
 * consumer outside Custodia (kcat) must see every BackupCompleted on the integration topic.
 */
const SOURCES = 4;
const BACKUPS_PER_SOURCE = 5;
const BACKUPS = SOURCES * BACKUPS_PER_SOURCE;

/** CPU time (user + system clock ticks) a process has used so far, from /proc. */
async function cpuTicks(pid: number | undefined): Promise<number> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name: state is the 3rd field of the line, utime the 14th, stime the 15th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

describe('distributed mode: API + 2 workers over PostgreSQL, Kafka and S3', () => {
  const schema = uniqueSchema('e2e');
  const topicPrefix = `e2e-${randomUUID().slice(0, 8)}`;
  const bucket = uniqueBucketName('e2e');
  let work: string;
  let env: NodeJS.ProcessEnv;
  const processes: Proc[] = [];
  let base: string;
  let api: Proc;
  let workers: Proc[];

  const post = async (url: string, body: unknown) => {
    const response = await fetch(`${base}${url}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(response.status).toBeLessThan(300);
    return (await response.json()) as { id: string } & Record<string, unknown>;
  };
  const get = async <T = { status: string } & Record<string, unknown>>(url: string): Promise<T> =>
    (await (await fetch(`${base}${url}`)).json()) as T;
  const settled = (url: string) =>
    until(
      `${url} to settle`,
      async () => {
        const body = await get(url);
        return ['completed', 'failed', 'cancelled'].includes(body.status) ? body : undefined;
      },
      120_000,
    );

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-distributed-'));
    env = distributedEnv({ schema, topicPrefix, bucket, work }, { JOB_MAX_ATTEMPTS: '5' });
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

  it('ends all 20 backups completed exactly once despite a worker killed mid-backup', async () => {
    ({ api, base } = await launchApi(env));
    processes.push(api);
    workers = [launch(['worker'], env), launch(['worker'], env)];
    processes.push(...workers);

    const backups: string[] = [];
    const sourceIds: string[] = [];
    for (let s = 0; s < SOURCES; s++) {
      const folder = path.join(work, `source-${s}`);
      await fs.mkdir(folder, { recursive: true });
      // A few MiB per source so that a backup takes long enough to be interrupted.
      for (let f = 0; f < 4; f++) await fs.writeFile(path.join(folder, `file-${f}.bin`), deterministicBytes(`${s}-${f}`, 3 * 1024 * 1024));
      sourceIds.push((await post('/sources', { name: `source-${s}`, path: folder })).id);
    }
    for (let round = 0; round < BACKUPS_PER_SOURCE; round++) {
      for (const sourceId of sourceIds) backups.push((await post('/backups', { sourceId, type: round === 0 ? 'full' : 'incremental' })).id);
    }

    // Kill a worker in the middle of a backup. Jobs are spread by source over Kafka partitions,
    // so both workers are not always busy: the victim is the one using the CPU right now.
    const statusOf = async (id: string) => ((await (await fetch(`${base}/backups/${id}`)).json()) as { status: string }).status;
    await until(
      'a running backup',
      async () => ((await Promise.all(backups.map(statusOf))).includes('running') ? true : undefined),
      120_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\nAPI:\n${api.output().slice(-3000)}\nworker:\n${workers[0].output().slice(-3000)}`);
    });
    const before = await Promise.all(workers.map((worker) => cpuTicks(worker.child.pid)));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const after = await Promise.all(workers.map((worker) => cpuTicks(worker.child.pid)));
    const busiest = after[1] - before[1] > after[0] - before[0] ? 1 : 0;
    const [victim, survivor] = [workers[busiest], workers[1 - busiest]];
    victim.child.kill('SIGKILL');
    await victim.exited;

    await until(
      'every backup to settle',
      async () =>
        (await Promise.all(backups.map(statusOf))).every((status) => ['completed', 'failed', 'cancelled'].includes(status))
          ? true
          : undefined,
      240_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\nAPI:\n${api.output().slice(-3000)}\nworker:\n${survivor.output().slice(-3000)}`);
    });

    // Exactly one BackupCompleted per backup, and the catalog says the same as the events.
    const client = new Client(postgresConnection());
    await client.connect();
    try {
      const { rows } = await client.query<{ stream: string; type: string; data: { snapshotId?: string } }>(
        `SELECT stream, type, data FROM "${schema}".events WHERE stream LIKE 'backup-%' ORDER BY position`,
      );
      for (const id of backups) {
        const events = rows.filter((row) => row.stream === `backup-${id}`);
        const completed = events.filter((row) => row.type === 'BackupCompleted');
        if (completed.length !== 1) {
          // Name what happened instead, so that a rare failure can be understood from the CI log.
          const story = events.map((row) => `${row.type} ${JSON.stringify(row.data)}`).join('\n');
          throw new Error(
            `backup ${id} has ${completed.length} BackupCompleted events:\n${story}\nAPI:\n${api.output().slice(-3000)}\n` +
              workers.map((worker, n) => `worker ${n}:\n${worker.output().slice(-3000)}`).join('\n'),
          );
        }
        expect(events.some((row) => row.type === 'BackupFailed')).toBe(false);
        const catalog = (await (await fetch(`${base}/backups/${id}`)).json()) as { status: string; snapshotId: string };
        expect(catalog.status).toBe('completed');
        expect(catalog.snapshotId).toBe(completed[0].data.snapshotId);
      }
    } finally {
      await client.end();
    }

    // A consumer outside Custodia reads the public integration topic.
    const topic = `${topicPrefix}.integration-events`;
    const seen = await until(
      'kcat to see every custodia.backup.completed',
      async () => {
        const lines = kafkaMessages(String(env.KAFKA_BROKERS), topic).map(
          (line) => JSON.parse(line) as { type: string; data: { backupId?: string } },
        );
        const completed = new Set(lines.filter((event) => event.type === 'custodia.backup.completed').map((event) => event.data.backupId));
        return backups.every((id) => completed.has(id)) ? completed : undefined;
      },
      60_000,
    );
    expect(seen.size).toBe(backups.length);
    // The waits above have budgets of their own (up to 2 + 4 + 1 min); the test may use them.
  }, 480_000);

  /**
   * The GDPR scenario across processes: subject keys in PostgreSQL, erasure carried out by a
   * worker over Kafka, restores leaving the erased subject out; then every place data goes
   * (event log, read models, key table, every Kafka topic, every process's output) is searched
   * for the personal strings planted in the source, and none is found.
   */
  it('erases a data subject across processes and leaks no planted personal data anywhere', async () => {
    const planted = ['alice@example.com', 'Alice Example', 'bob@example.com', 'Bob Example', 'Flat 4, 12 Acacia Avenue'];
    const folder = path.join(work, 'gdpr-source');
    const files: Record<string, string> = {
      'customers/alice@example.com/profile.json': '{"name":"Alice Example","email":"alice@example.com"}',
      'customers/alice@example.com/address.txt': 'Alice Example, Flat 4, 12 Acacia Avenue\n',
      'customers/bob@example.com/profile.json': '{"name":"Bob Example","email":"bob@example.com"}',
    };
    for (const [name, content] of Object.entries(files)) {
      await fs.mkdir(path.dirname(path.join(folder, name)), { recursive: true });
      await fs.writeFile(path.join(folder, name), content);
    }
    const source = await post('/sources', { name: 'customers', path: folder, subjectRules: ['customers/{subject}/**'] });
    const backup = await post('/backups', { sourceId: source.id, type: 'full' });
    expect(await settled(`/backups/${backup.id}`)).toMatchObject({ status: 'completed' });

    const erasure = await post('/erasures', { subjectId: 'alice@example.com', legalBasis: 'Art. 17(1)(a)', requestedBy: 'dpo' });
    expect(await settled(`/erasures/${erasure.id}`)).toMatchObject({ status: 'completed', keysShredded: 1 });

    const client = new Client(postgresConnection());
    await client.connect();
    try {
      // The key is gone from the shared vault; the row stays as the record of its destruction.
      const keys = await client.query<{ wrapped: Buffer | null; shredded_at: Date | null }>(
        `SELECT wrapped, shredded_at FROM "${schema}".subject_keys WHERE pseudonym = $1`,
        [erasure.subject],
      );
      expect(keys.rows).toEqual([{ wrapped: null, shredded_at: expect.any(Date) }]);

      const target = path.join(String(env.DATA_DIR), 'restores', 'gdpr-after-erasure');
      const restore = await post('/restores', { backupId: backup.id, target });
      expect(await settled(`/restores/${restore.id}`)).toMatchObject({ status: 'completed', files: 1, skippedErased: { files: 2 } });
      expect(await fs.readFile(path.join(target, 'customers/bob@example.com/profile.json'), 'utf8')).toBe(
        files['customers/bob@example.com/profile.json'],
      );
      await expect(fs.stat(path.join(target, 'customers/alice@example.com'))).rejects.toMatchObject({ code: 'ENOENT' });

      // Deleting the backup: a worker removes its snapshot from S3 (over the delete topic) and prunes.
      const { snapshotId } = await get<{ snapshotId: string }>(`/backups/${backup.id}`);
      const deletion = await fetch(`${base}/backups/${backup.id}`, { method: 'DELETE' });
      expect(deletion.status).toBe(202);
      await until(
        'the backup to be deleted',
        async () => ((await get(`/backups/${backup.id}`)).status === 'deleted' ? true : undefined),
        120_000,
      );
      const repository = await Repository.open(objectStoreFromLocation(String(env.REPOSITORY), env), String(env.CUSTODIA_PASSPHRASE));
      const remaining = (await repository.listSnapshots()).map((stored) => stored.id);
      expect(remaining).toHaveLength(BACKUPS);
      expect(remaining).not.toContain(snapshotId);
      expect(await check(repository, { readData: true })).toMatchObject({ ok: true, errors: [] });

      // Everything stored in PostgreSQL: events, read models, jobs, checkpoints, keys.
      const tables = await client.query<{ table_name: string }>(
        'SELECT table_name FROM information_schema.tables WHERE table_schema = $1',
        [schema],
      );
      expect(tables.rows.map((row) => row.table_name)).toEqual(expect.arrayContaining(['events', 'audit_entries', 'subject_keys']));
      const haystacks: [string, string][] = [];
      for (const { table_name } of tables.rows) {
        const rows = await client.query<{ row: string }>(`SELECT row_to_json(t)::text AS row FROM "${schema}"."${table_name}" t`);
        haystacks.push([`table ${table_name}`, rows.rows.map((row) => row.row).join('\n')]);
      }
      // Every message on every Kafka topic of this installation, keys included.
      const topics = kafkaTopics(topicPrefix);
      for (const topic of [
        ...Object.values(topics.jobs),
        topics.jobStatus,
        topics.jobControl,
        topics.deadLetter,
        topics.integrationEvents,
      ]) {
        const messages = kafkaMessages(String(env.KAFKA_BROKERS), topic, '%k %s').join('\n');
        haystacks.push([`topic ${topic}`, messages]);
      }
      expect(haystacks.find(([where]) => where.endsWith('.jobs.erase'))?.[1]).toContain(String(erasure.subject));
      // Everything the API and the workers printed.
      processes.forEach((proc, index) => haystacks.push([`process ${index} output`, proc.output()]));
      for (const [where, content] of haystacks) {
        for (const text of planted) expect({ where, text, found: content.includes(text) }).toEqual({ where, text, found: false });
      }
    } finally {
      await client.end();
    }
  }, 240_000);

  it('stops a running backup in its worker process when it is cancelled, and leaves no snapshot behind', async () => {
    const folder = path.join(work, 'cancel-source');
    await fs.mkdir(folder);
    const handle = await fs.open(path.join(folder, 'archive.bin'), 'w');
    for (let i = 0; i < 96; i++) await handle.write(randomBytes(1 << 20));
    await handle.close();
    const source = await post('/sources', { name: 'archive', path: folder });
    const backup = await post('/backups', { sourceId: source.id, type: 'full' });
    await until('the backup to run', async () => ((await get(`/backups/${backup.id}`)).status === 'running' ? true : undefined), 120_000);
    await post(`/backups/${backup.id}/cancel`, { reason: 'wrong folder' });

    // The cancel crossed Kafka's job-control topic: a live worker stopped the engine, which
    // ended the job with CANCELLED before writing a snapshot.
    const live = workers.filter((worker) => worker.child.exitCode === null);
    await until(
      'a worker to stop the cancelled job',
      async () => (live.some((worker) => /job backup-\S+ attempt \d+ failed: CANCELLED/.test(worker.output())) ? true : undefined),
      60_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n` + live.map((worker, n) => `worker ${n}:\n${worker.output().slice(-3000)}`).join('\n'));
    });
    expect(live.some((worker) => /job backup-\S+ cancelled: stopping it/.test(worker.output()))).toBe(true);
    expect(await get(`/backups/${backup.id}`)).toMatchObject({ status: 'cancelled', snapshotId: null });
    const repository = await Repository.open(objectStoreFromLocation(String(env.REPOSITORY), env), String(env.CUSTODIA_PASSPHRASE));
    const tagged = (await repository.listSnapshots()).filter((stored) => stored.snapshot.tags.includes(`backup:${backup.id}`));
    expect(tagged).toEqual([]);
  }, 240_000);
});
