import { RetentionEnforcer } from '../../src/application/process-managers/retention.enforcer';
import { RetentionPolicy, Streams } from '../../src/domain';
import { useTempDirs } from '../support/temp-dirs';
import { CatalogHarness, daysBefore } from './backup-catalog-harness';

const NOW = new Date('2031-01-01T00:00:00.000Z');
const POLICY: RetentionPolicy = { activeDays: 30, archivedDays: 365, restoreTestIntervalDays: 7, deleteExpired: true };
/** Completion times at and before this one have expired at NOW. */
const EXPIRY = daysBefore(NOW, POLICY.activeDays + POLICY.archivedDays);

/**
 * The retention enforcer reads the backup catalog (SQLite read model, fed by the real
 * projections) and asks for deletions through the real DeleteBackup command path.
 */
describe('RetentionEnforcer', () => {
  const tempDir = useTempDirs();
  let harness: CatalogHarness;
  let sourceId: string;

  beforeEach(async () => {
    harness = await CatalogHarness.open(await tempDir('retention'), NOW);
    sourceId = await harness.registerSource();
  });

  afterEach(() => harness.close());

  const enforcer = (policy: Partial<RetentionPolicy> = {}) =>
    new RetentionEnforcer(harness.commands, harness.db, harness.clock, { ...POLICY, ...policy });

  /** The deletions recorded after `position`: backup, reason and actor. */
  const deletionsAfter = async (position: number) =>
    (await harness.eventsAfter(position))
      .filter((event) => event.type === 'BackupDeletionRequested')
      .map((event) => {
        const data = event.data as { backupId: string; reason: string };
        return { backupId: data.backupId, reason: data.reason, actor: event.metadata.actor, stream: event.stream };
      });

  it('deletes, oldest first, only completed backups past the archive period and not being verified', async () => {
    const atExpiry = await harness.finishedBackup(sourceId, EXPIRY);
    const justInside = await harness.finishedBackup(sourceId, new Date(EXPIRY.getTime() + 1));
    const oldest = await harness.finishedBackup(sourceId, daysBefore(EXPIRY, 10));
    const oldFailed = await harness.finishedBackup(sourceId, daysBefore(EXPIRY, 20), 'failed');
    const beingVerified = await harness.finishedBackup(sourceId, daysBefore(EXPIRY, 5));
    await harness.verification(beingVerified, daysBefore(NOW, 1));
    const verifiedLongAgo = await harness.finishedBackup(sourceId, daysBefore(EXPIRY, 3));
    await harness.verification(verifiedLongAgo, daysBefore(EXPIRY, 2), daysBefore(EXPIRY, 2));
    const recent = await harness.finishedBackup(sourceId, daysBefore(NOW, 1));
    await harness.sync();
    const before = await harness.headPosition();

    const requested = await enforcer().deleteExpired();

    expect(requested).toEqual([oldest, verifiedLongAgo, atExpiry]);
    expect(await deletionsAfter(before)).toEqual(
      [oldest, verifiedLongAgo, atExpiry].map((backupId) => ({
        backupId,
        reason: 'retention',
        actor: 'system:retention',
        stream: Streams.backup(backupId),
      })),
    );
    // Nothing else was decided about the others.
    expect((await harness.eventsAfter(before)).map((event) => event.type)).toEqual(Array(3).fill('BackupDeletionRequested'));
    await harness.sync();
    const statuses = await harness.db.selectFrom('backups').select(['id', 'status']).execute();
    const statusOf = new Map(statuses.map((row) => [row.id, row.status]));
    expect([oldest, verifiedLongAgo, atExpiry].map((id) => statusOf.get(id))).toEqual(['deleting', 'deleting', 'deleting']);
    expect([justInside, oldFailed, beingVerified, recent].map((id) => statusOf.get(id))).toEqual([
      'completed',
      'failed',
      'completed',
      'completed',
    ]);
  });

  it('deletes nothing when the policy keeps expired backups', async () => {
    await harness.finishedBackup(sourceId, daysBefore(EXPIRY, 100));
    await harness.finishedBackup(sourceId, EXPIRY);
    await harness.sync();
    const before = await harness.headPosition();

    expect(await enforcer({ deleteExpired: false }).deleteExpired()).toEqual([]);
    expect(await harness.eventsAfter(before)).toEqual([]);
  });

  it('asks for at most 100 deletions per pass, the oldest first, and the rest on the next pass', async () => {
    const ids: string[] = [];
    // 102 expired backups, given in a shuffled order of completion times.
    const order = Array.from({ length: 102 }, (_, i) => (i * 37) % 102);
    const byAge = new Map<number, string>();
    for (const age of order) byAge.set(age, await harness.finishedBackup(sourceId, daysBefore(EXPIRY, 200 - age)));
    for (let age = 0; age < 102; age++) ids.push(byAge.get(age)!);
    await harness.sync();

    const first = await enforcer().deleteExpired();
    expect(first).toEqual(ids.slice(0, 100));

    // Until the catalog has caught up it lists the same hundred: the aggregates refuse them, nothing new is asked.
    const afterFirst = await harness.headPosition();
    expect(await enforcer().deleteExpired()).toEqual([]);
    expect(await harness.eventsAfter(afterFirst)).toEqual([]);

    await harness.sync();
    expect(await enforcer().deleteExpired()).toEqual(ids.slice(100));
    const deleted = await deletionsAfter(0);
    expect(deleted.map((deletion) => deletion.backupId)).toEqual(ids);
    expect(new Set(deleted.map((deletion) => deletion.actor))).toEqual(new Set(['system:retention']));
  });

  it('issues no stale deletion for a backup whose verification was asked for after the catalog was read', async () => {
    const expired = await harness.finishedBackup(sourceId, daysBefore(EXPIRY, 1));
    const other = await harness.finishedBackup(sourceId, daysBefore(EXPIRY, 2));
    await harness.sync();
    // The log moves on (an operator asks for a verification) but the catalog has not caught up.
    await harness.verification(expired, NOW);
    const before = await harness.headPosition();

    expect(await enforcer().deleteExpired()).toEqual([other]);
    expect(await deletionsAfter(before)).toEqual([
      { backupId: other, reason: 'retention', actor: 'system:retention', stream: Streams.backup(other) },
    ]);
  });

  it('does not ask again for a backup an operator deleted after the catalog was read', async () => {
    const expired = await harness.finishedBackup(sourceId, daysBefore(EXPIRY, 1));
    await harness.sync();
    await harness.backup({
      type: 'DeleteBackup',
      backupId: expired,
      deletionId: '5b9f8a52-6f3e-4a7e-9a37-000000000001',
      reason: 'operator',
    });
    const before = await harness.headPosition();

    expect(await enforcer().deleteExpired()).toEqual([]);
    expect(await harness.eventsAfter(before)).toEqual([]);
  });

  it('lets an error other than a refused transition through', async () => {
    // A catalog row for a backup the log does not hold: the aggregate answers NOT_FOUND, which is not "moved on".
    const ghost = '5b9f8a52-6f3e-4a7e-9a37-00000000000f';
    const real = await harness.finishedBackup(sourceId, daysBefore(EXPIRY, 1));
    await harness.sync();
    const row = await harness.db.selectFrom('backups').selectAll().where('id', '=', real).executeTakeFirstOrThrow();
    await harness.db
      .insertInto('backups')
      .values({ ...row, id: ghost, finished_at: daysBefore(EXPIRY, 2).toISOString() })
      .execute();

    await expect(enforcer().deleteExpired()).rejects.toMatchObject({ name: 'DomainError', code: 'NOT_FOUND' });
  });
});
