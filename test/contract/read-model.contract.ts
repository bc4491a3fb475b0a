import { randomUUID } from 'node:crypto';
import { userContext, toNewEvents } from '../../src/application/event-envelope';
import { JobTracker } from '../../src/application/process-managers/job-tracker';
import { Job } from '../../src/application/ports/job-bus';
import { EventStore } from '../../src/application/ports/event-store';
import { BackupCatalogProjection } from '../../src/application/projections/backup-catalog.projection';
import { applyWithCheckpoint, loadProjectionCheckpoint, Projection } from '../../src/application/projections/projection';
import { ProjectionRunner } from '../../src/application/projections/projection-runner';
import { ReadModel } from '../../src/application/projections/read-model';
import { RestoreHistoryProjection } from '../../src/application/projections/restore-history.projection';
import { SourcesProjection } from '../../src/application/projections/sources.projection';
import {
  ListBackupsHandler,
  ListBackupsQuery,
  ListRestoresHandler,
  ListRestoresQuery,
  ListSourcesHandler,
  ListSourcesQuery,
} from '../../src/application/queries/catalog.queries';
import { DomainEvent, Streams } from '../../src/domain';

/** What an adapter's spec hands the contract for each test: an empty read model and the event store it is paired with. */
export interface ReadModelFixture {
  db: ReadModel;
  events: EventStore;
  /** Opens the same read model again (as another process would); the contract destroys what it returns. */
  reopen: () => Promise<ReadModel>;
  /** Runs after the contract has destroyed `db` and what reopen gave; closes `events` and removes the data. */
  cleanup: () => Promise<void>;
}

const at = (minute: number) => `2025-03-01T10:${String(minute).padStart(2, '0')}:00.000Z`;
/** More than 2^32: a bigint column, which pg hands back as a string unless told otherwise. */
const RESTORED_BYTES = 5_000_000_000;

interface Story {
  sourceId: string;
  removedSourceId: string;
  backupId: string;
  failedBackupId: string;
  restoreId: string;
  /** Position of the last event appended. */
  position: number;
  count: number;
}

/** Two sources (one removed), a verified backup, a failed one, and a completed restore. */
async function appendStory(events: EventStore): Promise<Story> {
  const [sourceId, removedSourceId, backupId, failedBackupId, restoreId] = Array.from({ length: 5 }, () => randomUUID());
  const jobId = randomUUID();
  const streams: [string, DomainEvent[]][] = [
    [
      Streams.source(sourceId),
      [
        { type: 'SourceRegistered', data: { sourceId, name: 'documents', path: '/data/documents', at: at(0) } },
        { type: 'SourceUpdated', data: { sourceId, name: 'papers', at: at(1) } },
      ],
    ],
    [
      Streams.source(removedSourceId),
      [
        { type: 'SourceRegistered', data: { sourceId: removedSourceId, name: 'old', path: '/data/old', at: at(0) } },
        { type: 'SourceRemoved', data: { sourceId: removedSourceId, at: at(2) } },
      ],
    ],
    [
      Streams.backup(backupId),
      [
        { type: 'BackupRequested', data: { backupId, sourceId, backupType: 'full', at: at(2) } },
        { type: 'BackupStarted', data: { backupId, jobId, attempt: 1, at: at(3) } },
        {
          type: 'BackupCompleted',
          data: {
            backupId,
            jobId,
            snapshotId: 'snapshot-1',
            merkleRoot: 'root-1',
            statistics: {
              files: 3,
              directories: 1,
              bytesRead: RESTORED_BYTES,
              totalBytes: RESTORED_BYTES,
              newBytes: 10,
              storedBytes: 9,
              duplicateBytes: 0,
              chunks: 4,
              durationMs: 12,
              errors: 0,
            },
            at: at(4),
          },
        },
        { type: 'BackupVerificationRequested', data: { backupId, verificationId: 'verification-1', at: at(5) } },
        { type: 'BackupVerified', data: { backupId, verificationId: 'verification-1', blobsChecked: 4, bytesChecked: 9, at: at(6) } },
      ],
    ],
    [
      Streams.backup(failedBackupId),
      [
        { type: 'BackupRequested', data: { backupId: failedBackupId, sourceId, backupType: 'incremental', at: at(7) } },
        { type: 'BackupStarted', data: { backupId: failedBackupId, jobId: randomUUID(), attempt: 2, at: at(8) } },
        {
          type: 'BackupFailed',
          data: {
            backupId: failedBackupId,
            jobId: null,
            code: 'SOURCE_UNREADABLE',
            reason: 'source unreadable',
            retryable: false,
            at: at(9),
          },
        },
      ],
    ],
    [
      Streams.restore(restoreId),
      [
        {
          type: 'RestoreRequested',
          data: {
            restoreId,
            backupId,
            sourceId,
            snapshotId: 'snapshot-1',
            target: '/restore/here',
            include: ['a', 'b/c'],
            purpose: 'gdpr-access',
            at: at(10),
          },
        },
        { type: 'RestoreStarted', data: { restoreId, jobId: randomUUID(), attempt: 1, at: at(11) } },
        { type: 'RestoreCompleted', data: { restoreId, jobId: randomUUID(), files: 12, bytes: RESTORED_BYTES, at: at(12) } },
      ],
    ],
  ];
  let position = 0;
  let count = 0;
  for (const [stream, domainEvents] of streams) {
    const result = await events.append(stream, toNewEvents(domainEvents, userContext('integration-test'), at(0)), 'no-stream');
    position = result.position;
    count += domainEvents.length;
  }
  return { sourceId, removedSourceId, backupId, failedBackupId, restoreId, position, count };
}

function projections() {
  return [new SourcesProjection(), new BackupCatalogProjection(), new RestoreHistoryProjection()];
}

async function dump(db: ReadModel) {
  return {
    sources: await db.selectFrom('sources').selectAll().orderBy('id').execute(),
    backups: await db.selectFrom('backups').selectAll().orderBy('id').execute(),
    restores: await db.selectFrom('restores').selectAll().orderBy('id').execute(),
    checkpoints: await db.selectFrom('projection_checkpoints').selectAll().orderBy('name').execute(),
  };
}

/**
 * What every read-model adapter must do (the port is the Kysely schema of
 * src/application/projections/read-model.ts): projections write rows that the queries read back
 * with the declared types, rows and checkpoint commit together, a rebuild gives the same rows, the
 * job table keeps the process manager's state, and opening again keeps everything. SQLite passes
 * it in the unit run, PostgreSQL in the integration run.
 */
export function readModelContract(name: string, factory: () => Promise<ReadModelFixture>): void {
  describe(`${name}: read model contract`, () => {
    const stores = {} as { events: EventStore; db: ReadModel; reopen: () => Promise<ReadModel>; extra: ReadModel[] };
    let fixture: ReadModelFixture;
    beforeEach(async () => {
      fixture = await factory();
      Object.assign(stores, { events: fixture.events, db: fixture.db, reopen: fixture.reopen, extra: [] });
    });
    afterEach(async () => {
      for (const db of [stores.db, ...stores.extra]) await db.destroy();
      await fixture.cleanup();
    });

    it('opens the same read model again with its rows and checkpoints, creating nothing twice', async () => {
      expect(await stores.db.selectFrom('projection_checkpoints').selectAll().execute()).toEqual([]);
      await stores.db.insertInto('projection_checkpoints').values({ name: 'sources', position: 7 }).execute();
      const again = await stores.reopen();
      stores.extra.push(again);

      expect(await again.selectFrom('projection_checkpoints').selectAll().execute()).toEqual([{ name: 'sources', position: 7 }]);
      expect(await loadProjectionCheckpoint(again, 'sources')).toBe(7);
    });

    it('projects the events of the event store into rows the queries read, with bigint columns as numbers', async () => {
      const story = await appendStory(stores.events);
      const runner = new ProjectionRunner(stores.events, stores.db, projections(), 50);

      runner.start();
      await runner.waitFor(story.position);
      await runner.stop();

      const sources = await new ListSourcesHandler(stores.db).execute(new ListSourcesQuery(true));
      expect(sources.map(({ id, name, status }) => ({ id, name, status }))).toEqual(
        [
          { id: story.sourceId, name: 'papers', status: 'active' },
          { id: story.removedSourceId, name: 'old', status: 'removed' },
        ].sort((a, b) => (a.id < b.id ? -1 : 1)),
      );
      expect(await new ListSourcesHandler(stores.db).execute(new ListSourcesQuery(false))).toHaveLength(1);

      const backups = await new ListBackupsHandler(stores.db).execute(
        new ListBackupsQuery({ sourceId: story.sourceId }, { limit: 10, offset: 0 }),
      );
      expect(backups.total).toBe(2);
      expect(backups.items.map((backup) => backup.id)).toEqual([story.failedBackupId, story.backupId]);
      expect(backups.items[1]).toMatchObject({
        status: 'completed',
        attempt: 1,
        snapshotId: 'snapshot-1',
        startedAt: at(3),
        finishedAt: at(4),
        statistics: { files: 3, bytesRead: RESTORED_BYTES },
        verification: { status: 'verified', at: at(6) },
      });
      expect(backups.items[0]).toMatchObject({
        status: 'failed',
        attempt: 2,
        failure: { code: 'SOURCE_UNREADABLE', reason: 'source unreadable' },
      });

      const restores = await new ListRestoresHandler(stores.db).execute(
        new ListRestoresQuery({ backupId: story.backupId }, { limit: 10, offset: 0 }),
      );
      expect(restores).toMatchObject({ total: 1, items: [{ id: story.restoreId, status: 'completed', include: ['a', 'b/c'], files: 12 }] });
      expect(restores.items[0].bytes).toBe(RESTORED_BYTES);
      // The rows themselves, as the read model's types declare them.
      expect(await stores.db.selectFrom('restores').select(['files', 'bytes']).execute()).toEqual([{ files: 12, bytes: RESTORED_BYTES }]);
      expect(await stores.db.selectFrom('projection_checkpoints').selectAll().orderBy('name').execute()).toEqual([
        { name: 'backup-catalog', position: story.position },
        { name: 'restore-history', position: story.position },
        { name: 'sources', position: story.position },
      ]);
    });

    it('commits rows and checkpoint in one transaction: a failing batch leaves neither, a redelivered batch is not applied again', async () => {
      const story = await appendStory(stores.events);
      const projection = new BackupCatalogProjection();
      const batch = await stores.events.readAll(0, 100);
      const poison = batch.filter((event) => event.stream === Streams.backup(story.backupId)).at(-1)!;
      const failing: Projection = {
        name: projection.name,
        tables: projection.tables,
        apply: async (trx, event) => {
          if (event.id === poison.id) throw new Error('poisoned event (expected by the test)');
          await projection.apply(trx, event);
        },
      };

      await expect(applyWithCheckpoint(stores.db, failing, batch)).rejects.toThrow('poisoned event');
      expect(await stores.db.selectFrom('backups').selectAll().execute()).toEqual([]);
      expect(await loadProjectionCheckpoint(stores.db, projection.name)).toBe(0);

      const firstPart = batch.filter((event) => event.position <= poison.position);
      await applyWithCheckpoint(stores.db, projection, firstPart);
      expect(await loadProjectionCheckpoint(stores.db, projection.name)).toBe(poison.position);
      const statusOf = async (id: string) =>
        (await stores.db.selectFrom('backups').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status;
      expect(await statusOf(story.backupId)).toBe('completed');

      // Redelivered (as after a crash between commit and acknowledgement), together with what follows:
      // the events up to the checkpoint are skipped, so a row changed since stays as it is.
      await stores.db.updateTable('backups').set({ status: 'changed-since' }).where('id', '=', story.backupId).execute();
      await applyWithCheckpoint(stores.db, projection, batch);
      expect(await statusOf(story.backupId)).toBe('changed-since');
      expect(await statusOf(story.failedBackupId)).toBe('failed');
      expect(await loadProjectionCheckpoint(stores.db, projection.name)).toBe(story.position);

      // An older batch arriving late (another process, a slow retry) leaves the checkpoint where it is.
      await applyWithCheckpoint(stores.db, projection, firstPart);
      expect(await loadProjectionCheckpoint(stores.db, projection.name)).toBe(story.position);
    });

    it('rebuilds the same rows from the log', async () => {
      const story = await appendStory(stores.events);
      const runner = new ProjectionRunner(stores.events, stores.db, projections(), 50);
      runner.start();
      await runner.waitFor(story.position);
      await runner.stop();
      const projected = await dump(stores.db);
      await stores.db.updateTable('sources').set({ name: 'damaged' }).execute();
      await stores.db.deleteFrom('restores').execute();

      expect(await runner.rebuild(4)).toEqual({ events: story.count });

      expect(await dump(stores.db)).toEqual(projected);
    });

    describe('the job table (JobTracker)', () => {
      function backupJob(backupId: string): Job {
        return {
          jobId: randomUUID(),
          kind: 'backup',
          key: randomUUID(),
          attempt: 1,
          correlationId: randomUUID(),
          payload: { backupId, sourceId: randomUUID(), path: '/data/documents', full: true },
        };
      }

      it('records a job once, lists open jobs, the silent running ones by last contact, and closes them', async () => {
        const tracker = new JobTracker(stores.db);
        const [firstBackup, secondBackup] = [randomUUID(), randomUUID()];
        const [first, second] = [backupJob(firstBackup), backupJob(secondBackup)];

        expect(await tracker.record(first, firstBackup, at(0))).toBe(true);
        expect(await tracker.record({ ...first, attempt: 2 }, firstBackup, at(1))).toBe(false);
        expect(await tracker.record(second, secondBackup, at(5))).toBe(true);

        expect(await tracker.get(first.jobId)).toEqual({ job: first, aggregateId: firstBackup, status: 'dispatched', updatedAt: at(0) });
        expect((await tracker.open()).map((tracked) => tracked.job.jobId)).toEqual([first.jobId, second.jobId]);
        // Queued jobs are never silent, however long they wait.
        expect((await tracker.silentSince(at(3))).map((tracked) => tracked.job.jobId)).toEqual([]);

        await tracker.markRunning(first.jobId, at(2));
        expect((await tracker.silentSince(at(3))).map((tracked) => tracked.job.jobId)).toEqual([first.jobId]);
        await tracker.touch(first.jobId, at(6));
        expect((await tracker.silentSince(at(3))).map((tracked) => tracked.job.jobId)).toEqual([]);
        await tracker.markDispatched(second.jobId, 2, at(7));
        expect(await tracker.get(second.jobId)).toMatchObject({ status: 'dispatched', job: { attempt: 2 }, updatedAt: at(7) });

        await tracker.markDone(first.jobId, at(8));
        await tracker.markRunning(first.jobId, at(9));
        expect(await tracker.get(first.jobId)).toMatchObject({ status: 'done', updatedAt: at(8) });
        expect(await tracker.openFor(firstBackup)).toEqual([]);
        expect((await tracker.openFor(secondBackup)).map((tracked) => tracked.job.jobId)).toEqual([second.jobId]);
        expect((await tracker.open()).map((tracked) => tracked.job.jobId)).toEqual([second.jobId]);
      });

      it('leaves alone a stored job it cannot read (unknown kind, damaged payload) and goes on with the others', async () => {
        const tracker = new JobTracker(stores.db);
        const backupId = randomUUID();
        const good = backupJob(backupId);
        await tracker.record(good, backupId, at(2));
        const row = { aggregate_id: backupId, job_key: randomUUID(), attempt: 1, status: 'dispatched', progress: null };
        const [newerKind, notJson, badPayload] = [randomUUID(), randomUUID(), randomUUID()];
        await stores.db
          .insertInto('jobs')
          .values([
            { ...row, job_id: newerKind, kind: 'archive', payload: JSON.stringify({ payload: {} }), updated_at: at(0) },
            { ...row, job_id: notJson, kind: 'backup', payload: '{"payload":', updated_at: at(0) },
            { ...row, job_id: badPayload, kind: 'backup', payload: JSON.stringify({ payload: { backupId } }), updated_at: at(1) },
          ])
          .execute();

        for (const jobId of [newerKind, notJson, badPayload]) expect(await tracker.get(jobId)).toBeUndefined();
        expect((await tracker.open()).map((tracked) => tracked.job.jobId)).toEqual([good.jobId]);
        expect((await tracker.openFor(backupId)).map((tracked) => tracked.job.jobId)).toEqual([good.jobId]);
        // Nothing is deleted: a build that knows the kind reads the row again.
        const stored = await stores.db.selectFrom('jobs').select('job_id').where('aggregate_id', '=', backupId).execute();
        expect(stored).toHaveLength(4);
      });
    });
  });
}
