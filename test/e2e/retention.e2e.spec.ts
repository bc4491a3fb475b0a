import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { eventually, startApp, TestApp, waitForStatus } from './embedded-app';

/**
 * The retention policy on the running service: GET /retention places each completed backup in
 * its phase, and the restore-test scheduler verifies the newest backup of each source without
 * anyone asking, as the system actor, recorded in the audit trail.
 */
describe('retention status and automatic restore tests', () => {
  let service: TestApp;
  let source: string;

  beforeAll(async () => {
    source = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-retention-'));
    await fs.writeFile(path.join(source, 'letter.txt'), 'a letter\n'.repeat(100));
    service = await startApp({ RESTORE_TEST_CHECK_INTERVAL_MS: '200' });
  });

  afterAll(async () => {
    await service.close();
    await fs.rm(source, { recursive: true, force: true });
    await fs.rm(service.dataDir, { recursive: true, force: true });
  });

  it('reports the phase of each backup and runs the due restore test on its own', async () => {
    const { body: registered } = await service.http().post('/sources').send({ name: 'letters', path: source }).expect(201);
    const { body: backup } = await service.http().post('/backups').send({ sourceId: registered.id, type: 'full' }).expect(202);
    const completed = await waitForStatus(service.http, `/backups/${backup.id}`);
    expect(completed.status).toBe('completed');

    // Nobody asked for a verification: the scheduler did, and the worker carried it out.
    const verified = await eventually(async () => {
      const { body } = await service.http().get(`/backups/${backup.id}`).expect(200);
      expect(body.verification).toMatchObject({ status: 'verified', at: expect.any(String) });
      return body;
    });
    const { body: audit } = await service.http().get('/audit?actor=system:restore-tests').expect(200);
    expect(audit.items).toEqual([
      expect.objectContaining({ action: 'backup.verification-requested', target: { type: 'backup', id: backup.id }, role: 'system' }),
    ]);

    const { body: retention } = await service.http().get('/retention').expect(200);
    expect(retention.policy).toMatchObject({ activeDays: 30, archivedDays: 365, restoreTestIntervalDays: 7 });
    expect(retention.counts).toEqual({ active: 1, archived: 0, expired: 0 });
    const finished = Date.parse(String(verified.finishedAt));
    expect(retention.items).toEqual([
      {
        backupId: backup.id,
        sourceId: registered.id,
        completedAt: verified.finishedAt,
        phase: 'active',
        activeUntil: new Date(finished + 30 * 86_400_000).toISOString(),
        archivedUntil: new Date(finished + 395 * 86_400_000).toISOString(),
        lastRestoreTest: { at: expect.any(String), outcome: 'verified' },
        restoreTestDue: false,
      },
    ]);
    expect((await service.http().get('/retention?phase=expired').expect(200)).body).toMatchObject({ items: [], total: 0 });
    expect((await service.http().get('/retention?phase=forever').expect(400)).body.code).toBe('VALIDATION_FAILED');

    // The read models are healthy: every projection is running and none stepped over an event.
    const { body: projections } = await service.http().get('/projections').expect(200);
    expect(projections.map((p: { name: string }) => p.name)).toEqual([
      'sources',
      'backup-catalog',
      'restore-history',
      'audit-trail',
      'subjects',
      'job-attempts',
    ]);
    expect(projections.every((p: { parked: unknown[]; position: number }) => p.parked.length === 0 && p.position > 0)).toBe(true);

    // One test per interval: the scheduler does not ask again for a backup tested this week.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect((await service.http().get('/audit?actor=system:restore-tests').expect(200)).body.items).toHaveLength(1);
  });
});
