import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { EventStore } from '../../src/application/ports/event-store';
import { EVENT_STORE } from '../../src/application/tokens';
import { JobsProcessManager } from '../../src/application/process-managers/jobs.process-manager';
import { JobWorker } from '../../src/worker/job-worker';
import { check, FsObjectStore, Repository } from '../../src/engine';
import { eventually, startApp, TestApp, waitForStatus } from './embedded-app';

const DAY_MS = 86_400_000;
const deleted = (body: { status: string }) => body.status === 'deleted';

/**
 * Deleting backups on the running service: an operator's DELETE /backups/:id, and the retention
 * policy deleting what has expired on its own. Either way the snapshot leaves the repository,
 * the data nothing else uses is pruned, restores of it are refused, and the audit trail says
 * who decided and why.
 */
describe('backup deletion', () => {
  let source: string;

  beforeAll(async () => {
    source = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-deletion-'));
  });

  afterAll(async () => {
    await fs.rm(source, { recursive: true, force: true });
  });

  async function snapshotIds(service: TestApp): Promise<string[]> {
    const repository = await Repository.open(new FsObjectStore(service.config.repositoryLocation), 'e2e-passphrase', { loadIndex: false });
    return (await repository.listSnapshots()).map((stored) => stored.id);
  }

  async function backupNow(service: TestApp, sourceId: string): Promise<Record<string, unknown> & { status: string }> {
    const { body } = await service.http().post('/backups').send({ sourceId, type: 'full' }).expect(202);
    const done = await waitForStatus(service.http, `/backups/${body.id}`);
    expect(done.status).toBe('completed');
    return done;
  }

  it('deletes a backup an operator names, prunes its data, and refuses to restore it', async () => {
    const service = await startApp({ RESTORE_TEST_INTERVAL_DAYS: '0' });
    try {
      await fs.writeFile(path.join(source, 'old-scan.bin'), Buffer.alloc(300_000, 'o'));
      await fs.writeFile(path.join(source, 'notes.txt'), 'kept in both\n');
      const { body: registered } = await service.http().post('/sources').send({ name: 'scans', path: source }).expect(201);
      const first = await backupNow(service, registered.id);
      await fs.rm(path.join(source, 'old-scan.bin'));
      const second = await backupNow(service, registered.id);
      expect(await snapshotIds(service)).toHaveLength(2);

      const { body: accepted } = await service.http().delete(`/backups/${first.id}`).set('X-Actor', 'operator:dana').expect(202);
      expect(accepted).toEqual({ id: first.id, deletionId: expect.any(String), status: 'deleting' });
      const gone = await waitForStatus(service.http, `/backups/${first.id}`, deleted);
      expect(gone).toMatchObject({ status: 'deleted', deletedAt: expect.any(String), snapshotId: first.snapshotId });
      expect(await snapshotIds(service)).toEqual([second.snapshotId]);

      const { body: audit } = await service.http().get(`/audit?actor=system:jobs`).expect(200);
      const deletedEntry = (audit.items as { action: string; details: Record<string, unknown> }[]).find(
        (entry) => entry.action === 'backup.deleted',
      );
      expect(deletedEntry?.details).toMatchObject({ deletionId: accepted.deletionId, pruned: true, blobsRemoved: expect.any(Number) });
      expect(Number(deletedEntry?.details.blobsRemoved)).toBeGreaterThan(0);
      const { body: byOperator } = await service.http().get('/audit?actor=operator:dana').expect(200);
      expect(byOperator.items).toEqual([
        expect.objectContaining({
          action: 'backup.deletion-requested',
          purpose: 'operator request',
          target: { type: 'backup', id: first.id },
        }),
      ]);

      const target = path.join(service.config.restoreRoots[0], 'after-deletion');
      const refused = await service.http().post('/restores').send({ backupId: first.id, target }).expect(409);
      expect(refused.body.code).toBe('INVALID_TRANSITION');
      await service.http().delete(`/backups/${first.id}`).expect(409);
      await service.http().delete('/backups/00000000-0000-4000-8000-000000000000').expect(404);
      await service.http().delete('/backups/not-an-id').expect(404);

      const restore = await service.http().post('/restores').send({ backupId: second.id, target }).expect(202);
      expect((await waitForStatus(service.http, `/restores/${restore.body.id}`)).status).toBe('completed');
      expect(await fs.readFile(path.join(target, 'notes.txt'), 'utf8')).toBe('kept in both\n');

      const repository = await Repository.open(new FsObjectStore(service.config.repositoryLocation), 'e2e-passphrase');
      expect(await check(repository, { readData: true })).toMatchObject({ ok: true, snapshots: 1 });
    } finally {
      await service.close();
      await fs.rm(service.dataDir, { recursive: true, force: true });
    }
  });

  it('keeps expired backups when RETENTION_DELETE_EXPIRED is false, and the record of processing says so', async () => {
    let offsetMs = 0;
    const clock = { now: () => new Date(Date.now() + offsetMs) };
    const service = await startApp(
      { RESTORE_TEST_CHECK_INTERVAL_MS: '100', RESTORE_TEST_INTERVAL_DAYS: '0', RETENTION_DELETE_EXPIRED: 'false' },
      undefined,
      undefined,
      clock,
    );
    try {
      await fs.writeFile(path.join(source, 'notes.txt'), 'under a legal hold\n');
      const { body: registered } = await service.http().post('/sources').send({ name: 'held', path: source }).expect(201);
      const backup = await backupNow(service, registered.id);
      offsetMs = 500 * DAY_MS;
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect((await service.http().get(`/backups/${backup.id}`).expect(200)).body.status).toBe('completed');
      const { body: retention } = await service.http().get('/retention?phase=expired').expect(200);
      expect(retention.items).toEqual([expect.objectContaining({ backupId: backup.id, phase: 'expired' })]);
      const { body: record } = await service.http().get(`/sources/${registered.id}/processing-record`).expect(200);
      expect(record.retention).toMatchObject({ deleteExpired: false, enforcement: expect.stringContaining('expired backups are kept') });
    } finally {
      await service.close();
      await fs.rm(service.dataDir, { recursive: true, force: true });
    }
  });

  it('deletes on its own what the retention policy says has expired, as system:retention', async () => {
    let offsetMs = 0;
    const clock = { now: () => new Date(Date.now() + offsetMs) };
    const service = await startApp({ RESTORE_TEST_CHECK_INTERVAL_MS: '100', RESTORE_TEST_INTERVAL_DAYS: '0' }, undefined, undefined, clock);
    try {
      await fs.writeFile(path.join(source, 'notes.txt'), 'kept for a year and a month\n');
      const { body: registered } = await service.http().post('/sources').send({ name: 'notes', path: source }).expect(201);
      const backup = await backupNow(service, registered.id);
      // Still archived at day 394: nothing happens.
      offsetMs = 394 * DAY_MS;
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect((await service.http().get(`/backups/${backup.id}`).expect(200)).body.status).toBe('completed');

      offsetMs = 396 * DAY_MS;
      const gone = await waitForStatus(service.http, `/backups/${backup.id}`, deleted);
      expect(gone.status).toBe('deleted');
      expect(await snapshotIds(service)).toEqual([]);
      const { body: audit } = await service.http().get('/audit?actor=system:retention').expect(200);
      expect(audit.items).toEqual([
        expect.objectContaining({
          action: 'backup.deletion-requested',
          role: 'system',
          purpose: 'storage limitation (GDPR Art. 5(1)(e)): retention policy',
          target: { type: 'backup', id: backup.id },
        }),
      ]);
      await eventually(async () => {
        const { body: retention } = await service.http().get('/retention').expect(200);
        expect(retention.items).toEqual([]);
      });
    } finally {
      await service.close();
      await fs.rm(service.dataDir, { recursive: true, force: true });
    }
  });

  describe('a backup cancelled while it runs', () => {
    let service: TestApp;
    let big: string;
    let backupId: string;
    const streamTypes = async () => (await service.app.get<EventStore>(EVENT_STORE).readStream(`backup-${backupId}`)).map((e) => e.type);

    beforeAll(async () => {
      service = await startApp({ RESTORE_TEST_INTERVAL_DAYS: '0' });
      big = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-cancelled-'));
      // Incompressible data, so the backup runs for a while (over a second here) after it started.
      const handle = await fs.open(path.join(big, 'archive.bin'), 'w');
      for (let i = 0; i < 128; i++) await handle.write(randomBytes(1 << 20));
      await handle.close();
    });

    afterAll(async () => {
      await service.close();
      await fs.rm(big, { recursive: true, force: true });
      await fs.rm(service.dataDir, { recursive: true, force: true });
    });

    it('is stopped in the worker: no snapshot, and little of the data stored', async () => {
      const { body: registered } = await service.http().post('/sources').send({ name: 'archive', path: big }).expect(201);
      const { body: requested } = await service.http().post('/backups').send({ sourceId: registered.id, type: 'full' }).expect(202);
      backupId = requested.id;
      await waitForStatus(service.http, `/backups/${backupId}`, (body) => body.status !== 'requested');
      await service.http().post(`/backups/${backupId}/cancel`).set('X-Actor', 'operator:dana').send({ reason: 'wrong folder' }).expect(202);

      // The worker ends the job once the engine has stopped, and lets go of the repository.
      await eventually(async () => expect(service.app.get(JobWorker).runningJobIds).toEqual([]), 30_000);
      expect(await fs.readdir(path.join(service.config.repositoryLocation, 'locks'))).toEqual([]);
      expect(await snapshotIds(service)).toEqual([]);
      expect(await streamTypes()).toEqual(['BackupRequested', 'BackupStarted', 'BackupCancelled']);
      let stored = 0;
      const data = path.join(service.config.repositoryLocation, 'data');
      const packs = await fs.readdir(data, { recursive: true, withFileTypes: true }).catch(() => []);
      for (const entry of packs) if (entry.isFile()) stored += (await fs.stat(path.join(entry.parentPath, entry.name))).size;
      expect(stored).toBeLessThan(64 * (1 << 20));
      expect((await service.http().get(`/backups/${backupId}`).expect(200)).body).toMatchObject({ status: 'cancelled', snapshotId: null });
    });

    it('discards a snapshot the worker still reports after the cancel, so nothing stays behind unlisted', async () => {
      // A worker that finished just before the cancel reached it reports a snapshot; here that
      // report is handed to the process manager directly, as it would arrive from the bus.
      const events = await service.app.get<EventStore>(EVENT_STORE).readStream(`backup-${backupId}`);
      const jobId = (events[1].data as { jobId: string }).jobId;
      const lateSnapshot = 'f'.repeat(64);
      const report = {
        jobId,
        kind: 'backup' as const,
        attempt: 1,
        at: new Date().toISOString(),
        status: 'completed' as const,
        result: { snapshotId: lateSnapshot, merkleRoot: 'm', statistics: {} },
      };
      await service.app.get(JobsProcessManager).handleStatus(report);
      await eventually(
        async () =>
          expect(await streamTypes()).toEqual([
            'BackupRequested',
            'BackupStarted',
            'BackupCancelled',
            'BackupDeletionRequested',
            'BackupDeleted',
          ]),
        30_000,
      );
      const stream = await service.app.get<EventStore>(EVENT_STORE).readStream(`backup-${backupId}`);
      expect(stream[3].data).toMatchObject({ reason: 'discard', snapshotId: lateSnapshot });
      // The same report again asks for nothing more.
      await service.app.get(JobsProcessManager).handleStatus(report);
      expect(await streamTypes()).toHaveLength(5);
      expect((await service.http().get(`/backups/${backupId}`).expect(200)).body.status).toBe('cancelled');
      const { body: audit } = await service.http().get('/audit?actor=system:jobs').expect(200);
      expect(
        (audit.items as { action: string; purpose: string | null }[]).filter((entry) => entry.action === 'backup.deletion-requested'),
      ).toEqual([expect.objectContaining({ purpose: expect.stringContaining('written after its backup was cancelled') })]);
    });
  });
});
