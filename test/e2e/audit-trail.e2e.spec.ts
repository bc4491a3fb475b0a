import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import type { Test } from 'supertest';
import { startApp, TestApp, waitForStatus } from './embedded-app';

const CLI = path.resolve(__dirname, '../../dist/cli/main.js');
const ACTOR = 'dpo-alice';

interface Entry {
  sequence: number;
  occurredAt: string;
  actor: string;
  role: string;
  action: string;
  target: { type: string; id: string };
  purpose: string | null;
  outcome: string;
  hash: string;
}

type Row = Record<string, string | number | null>;

function cli(dataDir: string, ...args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], {
    env: { ...process.env, DATA_DIR: dataDir, EVENT_STORE: 'sqlite' },
    encoding: 'utf8',
  });
}

function withReadModel<T>(dataDir: string, use: (db: Database.Database) => T): T {
  const db = new Database(path.join(dataDir, 'readmodel.db'));
  try {
    return use(db);
  } finally {
    db.close();
  }
}

const storedHashes = (dataDir: string) =>
  withReadModel(dataDir, (db) => db.prepare('SELECT sequence, hash FROM audit_entries ORDER BY sequence').all());

/** A small RFC 4180 reader: quoted fields with doubled quotes, CRLF records. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted && c === '"' && text[i + 1] === '"') {
      field += '"';
      i++;
    } else if (c === '"') {
      quoted = !quoted;
    } else if (!quoted && c === ',') {
      record.push(field);
      field = '';
    } else if (!quoted && c === '\r' && text[i + 1] === '\n') {
      records.push([...record, field]);
      record = [];
      field = '';
      i++;
    } else {
      field += c;
    }
  }
  return records;
}

const as = (test: Test) => test.set('X-Actor', ACTOR);

describe('GDPR audit trail', () => {
  let service: TestApp;
  let source: string;

  beforeAll(async () => {
    source = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-audit-source-'));
    await fs.writeFile(path.join(source, 'customer-jane-doe.txt'), 'personal data\n');
    service = await startApp();
  });

  afterAll(async () => {
    await service.close().catch(() => undefined);
    await fs.rm(source, { recursive: true, force: true });
    await fs.rm(service.dataDir, { recursive: true, force: true });
  });

  it('records who did what, verifies, detects tampering, and is rebuilt identically from the log', async () => {
    const http = () => service.http();

    const { body: registered } = await as(http().post('/sources')).send({ name: 'jane-doe-files', path: source }).expect(201);
    const backups: string[] = [];
    for (const type of ['full', 'incremental']) {
      const { body } = await as(http().post('/backups')).send({ sourceId: registered.id, type }).expect(202);
      await waitForStatus(http, `/backups/${body.id}`);
      backups.push(body.id as string);
    }
    const target = path.join(service.config.restoreRoots[0], 'sar-jane');
    const { body: restore } = await as(http().post('/restores'))
      .send({ backupId: backups[0], target, include: ['customer-jane-doe.txt'], purpose: 'subject access request' })
      .expect(202);
    await waitForStatus(http, `/restores/${restore.id}`);
    // A refused command records no event, so it leaves no audit entry: the trail is of what happened.
    await as(http().post(`/backups/${backups[0]}/cancel`))
      .send({})
      .expect(409);

    // The audit projection runs on its own subscription: wait until it has caught up.
    let list: { items: Entry[]; total: number } = { items: [], total: 0 };
    const deadline = Date.now() + 30_000;
    while (list.total < 10 && Date.now() < deadline) {
      list = (await http().get('/audit').expect(200)).body;
      if (list.total < 10) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // ...and give it a moment to show that nothing more arrives.
    await new Promise((resolve) => setTimeout(resolve, 300));
    list = (await http().get('/audit').expect(200)).body;
    const entries = list.items;
    expect(list.total).toBe(10);
    // Each job's attempt is on the trail too: which worker took it.
    expect(entries.map((e) => [e.sequence, e.action, e.outcome, e.role])).toEqual([
      [1, 'source.registered', 'completed', 'operator'],
      [2, 'backup.requested', 'accepted', 'operator'],
      [3, 'job.attempt-started', 'accepted', 'system'],
      [4, 'backup.completed', 'completed', 'system'],
      [5, 'backup.requested', 'accepted', 'operator'],
      [6, 'job.attempt-started', 'accepted', 'system'],
      [7, 'backup.completed', 'completed', 'system'],
      [8, 'restore.requested', 'accepted', 'operator'],
      [9, 'job.attempt-started', 'accepted', 'system'],
      [10, 'restore.completed', 'completed', 'system'],
    ]);
    expect(entries[2]).toMatchObject({ target: { type: 'job' }, details: { kind: 'backup', aggregateId: backups[0], attempt: 1 } });
    expect(entries.filter((e) => e.role === 'operator').every((e) => e.actor === ACTOR)).toBe(true);
    expect(entries.filter((e) => e.role === 'system').every((e) => e.actor.startsWith('system:'))).toBe(true);
    expect(entries[7]).toMatchObject({ target: { type: 'restore', id: restore.id }, purpose: 'subject access request' });
    expect(entries.filter((e) => e.purpose !== null)).toHaveLength(1);
    // No personal data: neither the source's folder, nor its name, nor the restore target or include list.
    const text = JSON.stringify(entries);
    for (const secret of [source, 'jane-doe-files', target, 'customer-jane-doe']) expect(text).not.toContain(secret);

    // Filters and pagination.
    const sequences = async (query: string) =>
      ((await http().get(`/audit?${query}`).expect(200)).body.items as Entry[]).map((e) => e.sequence);
    expect(await sequences(`actor=${ACTOR}`)).toEqual([1, 2, 5, 8]);
    expect(await sequences('actor=system:jobs')).toEqual([3, 4, 6, 7, 9, 10]);
    const from = entries[2].occurredAt;
    const to = entries[5].occurredAt;
    const inWindow = entries.filter((e) => e.occurredAt >= from && e.occurredAt < to).map((e) => e.sequence);
    expect(inWindow.length).toBeGreaterThan(0);
    expect(await sequences(`from=${from}&to=${to}`)).toEqual(inWindow);
    // The same instant written with an offset selects the same entries.
    const shifted = new Date(Date.parse(from) + 3_600_000).toISOString().replace('Z', '+01:00');
    expect(await sequences(`from=${encodeURIComponent(shifted)}&to=${to}`)).toEqual(inWindow);
    expect(await sequences('limit=2&offset=2')).toEqual([3, 4]);
    expect(await sequences('subject=0123abcd')).toEqual([]);
    for (const bad of ['limit=0', 'limit=501', 'offset=-1', 'actor=bad%20actor', 'from=yesterday', 'subject=a%2Fb', 'verbose=1']) {
      const { body } = await http().get(`/audit?${bad}`).expect(400);
      expect(body.code).toBe('VALIDATION_FAILED');
    }
    await http().get('/audit/export?format=xml').expect(400);
    await http().get('/audit/export?limit=5').expect(400);

    // Exports: the stored rows; JSONL and CSV hold the same entries, and each hash can be recomputed.
    const jsonl = await http().get('/audit/export?format=jsonl').expect(200);
    expect(jsonl.headers['content-type']).toMatch(/^application\/x-ndjson/);
    const rows = jsonl.text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Row);
    expect(rows.map((row) => row.hash)).toEqual(entries.map((e) => e.hash));
    for (const { hash, ...fields } of rows) {
      const canonical = JSON.stringify(Object.fromEntries(Object.entries(fields).sort(([a], [b]) => (a < b ? -1 : 1))));
      expect(createHash('sha256').update(canonical).digest('hex')).toBe(hash);
    }
    const csv = await http().get('/audit/export?format=csv').expect(200);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    const [header, ...records] = parseCsv(csv.text);
    expect(header).toEqual(Object.keys(rows[0]));
    expect(records).toEqual(rows.map((row) => header.map((column) => (row[column] === null ? '' : String(row[column])))));
    const systemOnly = await http().get('/audit/export?format=jsonl&actor=system:jobs').expect(200);
    expect(systemOnly.text.trim().split('\n')).toHaveLength(6);

    expect((await http().get('/audit/verify').expect(200)).body).toEqual({ valid: true, entries: 10 });
    const before = storedHashes(service.dataDir);

    // Tampering: someone edits who did entry 3.
    withReadModel(service.dataDir, (db) => db.prepare("UPDATE audit_entries SET actor = 'someone-else' WHERE sequence = 3").run());
    expect((await http().get('/audit/verify').expect(200)).body).toEqual({ valid: false, entries: 10, firstBrokenEntry: 3 });
    await service.close();

    const broken = cli(service.dataDir, 'audit', 'verify');
    expect(broken.status).toBe(1);
    expect(broken.stdout.trim()).toBe('audit trail BROKEN at entry 3 of 10');

    // Put entry 3 back, then delete entry 5: its successor no longer chains to entry 4.
    withReadModel(service.dataDir, (db) => db.prepare('UPDATE audit_entries SET actor = ? WHERE sequence = 3').run(entries[2].actor));
    expect(cli(service.dataDir, 'audit', 'verify').stdout.trim()).toBe('audit trail valid: 10 entries');
    withReadModel(service.dataDir, (db) => db.prepare('DELETE FROM audit_entries WHERE sequence = 5').run());
    const gap = cli(service.dataDir, 'audit', 'verify', '--json');
    expect(gap.status).toBe(1);
    expect(JSON.parse(gap.stdout)).toEqual({ valid: false, entries: 9, firstBrokenEntry: 6 });

    // The chain is a function of the log: a rebuild restores it hash for hash.
    const rebuilt = cli(service.dataDir, 'projections', 'rebuild');
    expect(rebuilt.status).toBe(0);
    const valid = cli(service.dataDir, 'audit', 'verify');
    expect(valid.status).toBe(0);
    expect(valid.stdout.trim()).toBe('audit trail valid: 10 entries');
    expect(storedHashes(service.dataDir)).toEqual(before);
  });
});
