import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { toIntegrationEvent } from '../../src/application/integration/integration-events';
import { EventStore } from '../../src/application/ports/event-store';
import { EVENT_STORE } from '../../src/application/tokens';
import { snapshotTree, startApp, TestApp, waitForStatus } from './embedded-app';

/** The embedded service end to end: HTTP in, events, sagas, worker, engine, projections out. */
describe('embedded service: backup and restore over HTTP', () => {
  let service: TestApp;
  let source: string;

  beforeAll(async () => {
    source = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-source-'));
    await fs.mkdir(path.join(source, 'letters', 'empty'), { recursive: true });
    await fs.writeFile(path.join(source, 'letters', 'a.txt'), 'first letter\n'.repeat(1000));
    await fs.writeFile(path.join(source, 'notes.md'), '# notes\n');
    await fs.writeFile(path.join(source, 'blob.bin'), Buffer.alloc(3 * 1024 * 1024, 7));
    await fs.symlink('letters/a.txt', path.join(source, 'latest-letter'));
    service = await startApp();
  });

  afterAll(async () => {
    await service.close();
    await fs.rm(source, { recursive: true, force: true });
    await fs.rm(service.dataDir, { recursive: true, force: true });
  });

  it('backs up, backs up incrementally after a change, and restores both byte for byte', async () => {
    const registered = await service.http().post('/sources').send({ name: 'letters', path: source }).expect(201);
    const sourceId = registered.body.id as string;
    expect(registered.body).toMatchObject({ name: 'letters', path: source });

    const first = await service.http().post('/backups').send({ sourceId, type: 'full' }).expect(202);
    expect(first.body).toMatchObject({ id: expect.any(String), status: 'requested' });
    const firstDone = await waitForStatus(service.http, `/backups/${first.body.id}`);
    expect(firstDone).toMatchObject({ status: 'completed', type: 'full', sourceId, snapshotId: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(firstDone.merkleRoot).toMatch(/^[0-9a-f]{64}$/);
    const firstTree = await snapshotTree(source);

    await fs.writeFile(path.join(source, 'notes.md'), '# notes\nchanged\n');
    const second = await service.http().post('/backups').send({ sourceId, type: 'incremental' }).expect(202);
    const secondDone = await waitForStatus(service.http, `/backups/${second.body.id}`);
    expect(secondDone.status).toBe('completed');
    // Only the changed file was read again.
    expect((secondDone.statistics as Record<string, number>).bytesRead).toBe('# notes\nchanged\n'.length);
    expect(secondDone.merkleRoot).not.toBe(firstDone.merkleRoot);

    const roots = service.config.restoreRoots[0];
    for (const [backup, expected, name] of [
      [firstDone, firstTree, 'first'],
      [secondDone, await snapshotTree(source), 'second'],
    ] as const) {
      const target = path.join(roots, name);
      const restore = await service.http().post('/restores').send({ backupId: backup.id, target }).expect(202);
      const restored = await waitForStatus(service.http, `/restores/${restore.body.id}`);
      expect(restored).toMatchObject({ status: 'completed', backupId: backup.id, target });
      expect(await snapshotTree(target)).toEqual(expected);
    }

    const catalog = await service.http().get('/backups').query({ sourceId }).expect(200);
    expect(catalog.body.total).toBe(2);
    expect(catalog.body.items.map((item: { status: string }) => item.status)).toEqual(['completed', 'completed']);
    const history = await service.http().get('/restores').expect(200);
    expect(history.body.items).toHaveLength(2);
  });

  it('verifies a completed backup on request', async () => {
    const { body: sources } = await service.http().get('/sources').expect(200);
    const backup = await service.http().post('/backups').send({ sourceId: sources[0].id }).expect(202);
    await waitForStatus(service.http, `/backups/${backup.body.id}`);
    await service.http().post(`/backups/${backup.body.id}/verify`).expect(202);
    const verified = await waitForStatus(
      service.http,
      `/backups/${backup.body.id}`,
      (body) => (body as unknown as { verification: { status: string } }).verification.status === 'verified',
    );
    expect(verified.status).toBe('completed');
  });

  it('restores only the included paths', async () => {
    const { body: catalog } = await service.http().get('/backups').query({ status: 'completed', limit: 1 }).expect(200);
    const target = path.join(service.config.restoreRoots[0], 'partial');
    const restore = await service
      .http()
      .post('/restores')
      .send({ backupId: catalog.items[0].id, target, include: ['letters'] })
      .expect(202);
    await waitForStatus(service.http, `/restores/${restore.body.id}`);
    expect(Object.keys(await snapshotTree(target)).sort()).toEqual(['letters/', 'letters/a.txt', 'letters/empty/']);
  });

  it('says why a restore failed: an --include that matches nothing, a snapshot that is gone', async () => {
    const { body: catalog } = await service.http().get('/backups').query({ status: 'completed', limit: 1 }).expect(200);
    const backupId = catalog.items[0].id as string;
    const target = path.join(service.config.restoreRoots[0], 'nomatch');
    const requested = await service
      .http()
      .post('/restores')
      .send({ backupId, target, include: ['letters', 'nomatch'] })
      .expect(202);
    const failed = await waitForStatus(service.http, `/restores/${requested.body.id}`);
    expect(failed).toMatchObject({
      status: 'failed',
      failure: { code: 'INVALID_ARGUMENT', reason: '--include nomatch: no such path in the snapshot' },
    });
    // The event says the same, and the integration event (which never quotes include paths) does not.
    const events = await service.app.get<EventStore>(EVENT_STORE).readAll(0, 100_000);
    const recorded = events.find(
      (event) => event.type === 'RestoreFailed' && (event.data as { restoreId: string }).restoreId === requested.body.id,
    );
    expect(recorded?.data).toMatchObject({
      code: 'INVALID_ARGUMENT',
      reason: '--include nomatch: no such path in the snapshot',
      retryable: false,
    });
    const integration = toIntegrationEvent(recorded!);
    expect(integration?.data).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(JSON.stringify(integration)).not.toContain('nomatch');
    await expect(fs.readdir(target)).rejects.toMatchObject({ code: 'ENOENT' });

    // A snapshot removed from the repository behind the service's back.
    const { body: sources } = await service.http().get('/sources').expect(200);
    const backup = await service.http().post('/backups').send({ sourceId: sources[0].id }).expect(202);
    const done = await waitForStatus(service.http, `/backups/${backup.body.id}`);
    const snapshotId = done.snapshotId as string;
    await fs.rm(path.join(service.config.repositoryLocation, 'snapshots', snapshotId));
    const gone = await service
      .http()
      .post('/restores')
      .send({ backupId: backup.body.id, target: path.join(service.config.restoreRoots[0], 'gone') })
      .expect(202);
    expect(await waitForStatus(service.http, `/restores/${gone.body.id}`)).toMatchObject({
      status: 'failed',
      failure: {
        code: 'SNAPSHOT_NOT_FOUND',
        reason: `snapshot ${snapshotId.slice(0, 12)} is not in the repository (deleted, or this worker uses another repository)`,
      },
    });
  });
});
