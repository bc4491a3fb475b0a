import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EventStore } from '../../src/application/ports/event-store';
import { EVENT_STORE } from '../../src/application/tokens';
import { CapturingLogger, eventually, snapshotTree, startApp, TestApp, waitForStatus } from './embedded-app';

export const SECRET = 'e2e-pseudonym-secret-of-32-bytes!';

/** Personal data planted in file names and contents: none of it may leave the repository. */
const PLANTED = ['alice@example.com', 'Alice Example', 'bob@example.com', 'Bob Example', '+44 20 7946 0958', 'Flat 4, 12 Acacia Avenue'];

const alice = (day: number) => ({
  'customers/alice@example.com/profile.json': `{"name":"Alice Example","email":"alice@example.com","phone":"+44 20 7946 0958","day":${day}}`,
  'customers/alice@example.com/invoices/2026-01.txt': 'invoice for Alice Example, Flat 4, 12 Acacia Avenue\n'.repeat(50),
});
const bob = (day: number) => ({
  'customers/bob@example.com/profile.json': `{"name":"Bob Example","email":"bob@example.com","day":${day}}`,
  [`customers/bob@example.com/letters/letter-${day}.txt`]: `Dear Bob Example, letter of day ${day}\n`.repeat(20),
});

/** Where a scenario's service keeps its data, and how to read all of it back as text. */
export interface ScenarioStorage {
  label: string;
  /** Settings for the service (event store, read model and key vault adapters). */
  env: () => Promise<Record<string, string>>;
  /** Every stored row or file of the event store and read models, as [where, content]. */
  storedData: (service: TestApp) => Promise<[string, Buffer | string][]>;
  /** Expected key vault and storage facts in the record of processing. */
  keyVault: 'repository' | 'postgres';
  cleanup?: () => Promise<void>;
}

/**
 * The GDPR scenario on the embedded service: two data subjects with files in three backups;
 * subject access; erasure of alice through the API (twice); restores of every backup leave
 * alice out and count what they skipped while bob comes back byte for byte; the audit trail
 * records each step and stays intact; no planted personal string is in the event log, the read
 * models or anything the service logged.
 */
export function gdprScenario(storage: ScenarioStorage, extra?: (service: () => TestApp) => void): void {
  describe(`GDPR: data subjects, erasure and access through the service (${storage.label})`, () => {
    let service: TestApp;
    let source: string;
    const logs = new CapturingLogger();
    const backups: { id: string; bob: Record<string, string> }[] = [];
    let sourceId: string;

    const write = async (files: Record<string, string>) => {
      for (const [file, content] of Object.entries(files)) {
        await fs.mkdir(path.dirname(path.join(source, file)), { recursive: true });
        await fs.writeFile(path.join(source, file), content);
      }
    };
    const restoreRoot = () => service.config.restoreRoots[0];

    beforeAll(async () => {
      source = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-subjects-'));
      await write({ 'shared/readme.txt': 'not personal\n' });
      service = await startApp({ CUSTODIA_PSEUDONYM_SECRET: SECRET, ...(await storage.env()) }, undefined, logs);
    });

    afterAll(async () => {
      await service.close();
      await fs.rm(source, { recursive: true, force: true });
      await fs.rm(service.dataDir, { recursive: true, force: true });
      await storage.cleanup?.();
    });

    it('refuses a malformed subject rule, and a subject id that is not one folder name, with a 400', async () => {
      const rule = await service
        .http()
        .post('/sources')
        .send({ name: 'bad', path: source, subjectRules: ['customers/{subject}/orders/{subject}'] });
      expect(rule.status).toBe(400);
      expect(rule.body.message).toContain('subjectRules');
      for (const subjectId of ['a/b', '..', '', 42]) {
        const response = await service.http().post('/erasures').send({ subjectId, legalBasis: 'Art. 17', requestedBy: 'dpo' });
        expect(response.status).toBe(400);
        expect(response.body.code).toBe('VALIDATION_FAILED');
      }
      const missing = await service.http().post('/erasures').send({ subjectId: 'alice@example.com' });
      expect(missing.status).toBe(400);
      expect(JSON.stringify(missing.body.message)).toMatch(/legalBasis.*requestedBy|requestedBy.*legalBasis/s);
    });

    it('backs up two subjects three times and answers an access request with the backups holding each', async () => {
      const { body: registered } = await service
        .http()
        .post('/sources')
        .send({
          name: 'customers',
          path: source,
          subjectRules: ['customers/{subject}/**'],
          dataCategories: ['contact details', 'invoices'],
          purposes: ['business continuity'],
        })
        .expect(201);
      sourceId = registered.id;
      expect(registered).toMatchObject({ dataCategories: ['contact details', 'invoices'], purposes: ['business continuity'] });
      for (const day of [1, 2, 3]) {
        await write({ ...alice(day), ...bob(day) });
        const { body: backup } = await service.http().post('/backups').send({ sourceId, type: 'incremental' }).expect(202);
        expect(await waitForStatus(service.http, `/backups/${backup.id}`)).toMatchObject({ status: 'completed' });
        const tree = await snapshotTree(source);
        backups.push({ id: backup.id, bob: Object.fromEntries(Object.entries(tree).filter(([name]) => name.includes('bob@'))) });
      }

      const bobData = await eventually(async () => {
        const { body } = await service.http().post('/subjects/lookup').send({ subjectId: 'bob@example.com' }).expect(200);
        expect(body.backups).toHaveLength(3);
        return body;
      });
      expect(bobData.subject).toMatch(/^[0-9a-f]{64}$/);
      expect(bobData.status).toBe('active');
      expect(bobData.backups.map((b: { backupId: string }) => b.backupId)).toEqual(backups.map((b) => b.id));
      expect(bobData.backups.map((b: { files: number }) => b.files)).toEqual([2, 3, 4]);
      expect(bobData.backups[0]).toMatchObject({ sourceId, completedAt: expect.any(String), bytes: expect.any(Number) });
      expect(bobData.totals).toMatchObject({ backups: 3, files: 9 });
      const { body: byPseudonym } = await service.http().get(`/subjects/${bobData.subject}`).expect(200);
      expect(byPseudonym).toEqual(bobData);
      const { body: nobody } = await service.http().post('/subjects/lookup').send({ subjectId: 'carol@example.com' }).expect(200);
      expect(nobody).toMatchObject({ status: 'unknown', backups: [], totals: { backups: 0, files: 0, bytes: 0 } });

      // Each lookup is an access to information about a person: audited, with the pseudonym only.
      await eventually(async () => {
        const { body: audit } = await service.http().get(`/audit?subject=${bobData.subject}`).expect(200);
        const lookups = audit.items.filter((item: { action: string }) => item.action === 'subject.looked-up');
        expect(lookups).toHaveLength(2);
        expect(lookups[0]).toMatchObject({
          actor: 'operator',
          purpose: 'data subject access (GDPR Art. 15)',
          target: { type: 'subject', id: bobData.subject },
        });
      });
    });

    it('restores one subject only for an access request, and records it as such', async () => {
      const target = path.join(restoreRoot(), 'access-bob');
      const { body: requested } = await service
        .http()
        .post('/restores')
        .send({ backupId: backups[2].id, target, subjectId: 'bob@example.com' })
        .expect(202);
      expect(requested.purpose).toBe('data subject access request (GDPR Art. 15)');
      const restored = await waitForStatus(service.http, `/restores/${requested.id}`);
      expect(restored).toMatchObject({ status: 'completed', files: 4, subject: requested.subject });
      const tree = await snapshotTree(target);
      const files = (names: string[]) => names.filter((name) => !name.endsWith('/')).sort();
      expect(files(Object.keys(tree))).toEqual(files(Object.keys(backups[2].bob)));
      expect(Object.keys(tree).some((name) => name.includes('alice') || name.includes('shared'))).toBe(false);

      await eventually(async () => {
        const { body: audit } = await service.http().get(`/audit?subject=${requested.subject}`).expect(200);
        expect(audit.items).toContainEqual(
          expect.objectContaining({
            action: 'restore.requested',
            target: { type: 'restore', id: requested.id },
            purpose: 'data subject access request (GDPR Art. 15)',
            subjectPseudonym: requested.subject,
          }),
        );
      });
    });

    it('erases alice through the API: keys shredded, completed, a repeat changes nothing', async () => {
      const { body: erasure } = await service
        .http()
        .post('/erasures')
        .set('X-Actor', 'dpo.jane')
        .send({ subjectId: 'alice@example.com', legalBasis: 'GDPR Art. 17(1)(b): consent withdrawn', requestedBy: 'alice@example.com' })
        .expect(202);
      expect(erasure).toMatchObject({ id: expect.any(String), subject: expect.stringMatching(/^[0-9a-f]{64}$/), repeated: false });
      const done = await waitForStatus(service.http, `/erasures/${erasure.id}`);
      // The subject asked for itself: its id is recorded as "data-subject", not as its address.
      expect(done).toMatchObject({ status: 'completed', keysShredded: 1, requestedBy: 'data-subject', subject: erasure.subject });

      const events = service.app.get<EventStore>(EVENT_STORE);
      const stream = `subject-${erasure.subject}`;
      expect((await events.readStream(stream)).map((e) => e.type)).toEqual(['ErasureRequested', 'SubjectKeyShredded', 'ErasureCompleted']);
      const { body: again } = await service
        .http()
        .post('/erasures')
        .send({ subjectId: 'alice@example.com', legalBasis: 'repeated', requestedBy: 'dpo' })
        .expect(202);
      expect(again).toEqual({ id: erasure.id, subject: erasure.subject, status: 'completed', repeated: true });
      expect(await events.readStream(stream)).toHaveLength(3);

      const { body: aliceData } = await service.http().get(`/subjects/${erasure.subject}`).expect(200);
      expect(aliceData).toMatchObject({ status: 'erased', erasure: { id: erasure.id }, totals: { backups: 3 } });

      await eventually(async () => {
        const { body: audit } = await service.http().get(`/audit?subject=${erasure.subject}`).expect(200);
        const actions = audit.items.map((item: { action: string }) => item.action);
        // The lookup just above is an access too: recorded after the erasure, in chain order.
        expect(actions).toEqual([
          'subject-key.created',
          'erasure.requested',
          'subject-key.shredded',
          'erasure.completed',
          'subject.looked-up',
        ]);
        expect(audit.items[1]).toMatchObject({ actor: 'dpo.jane', purpose: 'GDPR Art. 17(1)(b): consent withdrawn' });
        // The worker pruned right after shredding: alice's unreadable blobs are deleted too.
        expect(audit.items[2].details).toMatchObject({ keysShredded: 1, pruned: true });
        expect(audit.items[2].details.erasedBlobsRemoved).toBeGreaterThan(0);
      });
      expect((await service.http().get('/audit/verify').expect(200)).body).toMatchObject({ valid: true });
    });

    it('restores every backup without alice, counting what was skipped, and bob byte for byte', async () => {
      for (const [index, backup] of backups.entries()) {
        const target = path.join(restoreRoot(), `after-erasure-${index}`);
        const { body: restore } = await service.http().post('/restores').send({ backupId: backup.id, target }).expect(202);
        const restored = await waitForStatus(service.http, `/restores/${restore.id}`);
        expect(restored.status).toBe('completed');
        expect(restored.skippedErased).toEqual({ files: 2, bytes: expect.any(Number) });
        expect((restored.skippedErased as { bytes: number }).bytes).toBeGreaterThan(0);
        const tree = await snapshotTree(target);
        expect(Object.keys(tree).filter((name) => name.includes('alice'))).toEqual([]);
        expect(Object.fromEntries(Object.entries(tree).filter(([name]) => name.includes('bob@')))).toEqual(backup.bob);
        expect(tree['shared/readme.txt']).toBeDefined();
      }
    });

    it('describes the source in a record of processing (Art. 30)', async () => {
      await service
        .http()
        .patch(`/sources/${sourceId}`)
        .send({ purposes: ['business continuity', 'legal retention of invoices'] })
        .expect(200);
      // Read models follow the event log: wait for the update to be projected.
      const record = await waitForStatus(
        service.http,
        `/sources/${sourceId}/processing-record`,
        (body) => (body as unknown as { purposes: string[] }).purposes.length === 2,
      );
      expect(record).toMatchObject({
        sourceId,
        purposes: ['business continuity', 'legal retention of invoices'],
        categoriesOfPersonalData: ['contact details', 'invoices'],
        dataSubjects: { identifiedBy: ['customers/{subject}/**'], withDataInBackups: 2, erased: 1 },
        retention: { activeDays: 30, archivedDays: 365, restoreTestIntervalDays: 7, backups: { completed: 3 } },
        security: {
          encryption: expect.stringContaining('AES-256-GCM'),
          subjectKeys: expect.stringContaining(`${storage.keyVault} key vault`),
        },
        storage: { kind: 'fs', location: path.join(service.dataDir, 'repository'), keyVault: storage.keyVault },
      });
      await eventually(async () => {
        const { body: audit } = await service.http().get('/audit?limit=500').expect(200);
        expect(audit.items).toContainEqual(
          expect.objectContaining({
            action: 'source.updated',
            details: { fields: ['purposes'] },
            target: { type: 'source', id: sourceId },
          }),
        );
      });
      const unknown = await service.http().get('/sources/00000000-0000-4000-8000-000000000000/processing-record');
      expect(unknown.status).toBe(404);
    });

    it('left no planted personal data in the event log, the read models or the logs', async () => {
      const events = service.app.get<EventStore>(EVENT_STORE);
      const log = JSON.stringify(await events.readAll(0, 100_000));
      const haystacks: [string, Buffer | string][] = [
        ...(await storage.storedData(service)),
        ['event log', log],
        ['service log', logs.lines.join('\n')],
      ];
      expect(logs.lines.length).toBeGreaterThan(0);
      for (const [where, content] of haystacks) {
        for (const planted of PLANTED)
          expect({ where, planted, found: content.includes(planted) }).toEqual({ where, planted, found: false });
      }
    });

    extra?.(() => service);
  });
}
