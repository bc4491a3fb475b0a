import { RestoreTestScheduler } from '../../src/application/process-managers/restore-test.scheduler';
import { RetentionPolicy } from '../../src/domain';
import { useTempDirs } from '../support/temp-dirs';
import { CatalogHarness, daysBefore } from './backup-catalog-harness';

const NOW = new Date('2031-01-01T00:00:00.000Z');
const POLICY: RetentionPolicy = { activeDays: 30, archivedDays: 365, restoreTestIntervalDays: 7, deleteExpired: true };
const EXPIRY = daysBefore(NOW, POLICY.activeDays + POLICY.archivedDays);

/**
 * The restore-test scheduler reads the catalog (SQLite read model, fed by the real projections)
 * and asks for verifications through the real VerifyBackup command path.
 */
describe('RestoreTestScheduler', () => {
  const tempDir = useTempDirs();
  let harness: CatalogHarness;

  beforeEach(async () => {
    harness = await CatalogHarness.open(await tempDir('restore-tests'), NOW);
  });

  afterEach(() => harness.close());

  const scheduler = (policy: Partial<RetentionPolicy> = {}) =>
    new RestoreTestScheduler(harness.commands, harness.db, harness.clock, { ...POLICY, ...policy });

  /** The verifications requested after `position`: backup and actor. */
  const verificationsAfter = async (position: number) =>
    (await harness.eventsAfter(position))
      .filter((event) => event.type === 'BackupVerificationRequested')
      .map((event) => ({ backupId: (event.data as { backupId: string }).backupId, actor: event.metadata.actor }));

  it('tests the newest completed backup of each active source, as system:restore-tests', async () => {
    const one = await harness.registerSource();
    await harness.finishedBackup(one, daysBefore(NOW, 9));
    const newestOfOne = await harness.finishedBackup(one, daysBefore(NOW, 3));
    // A newer failed backup does not count: the newest completed one is tested.
    await harness.finishedBackup(one, daysBefore(NOW, 1), 'failed');
    const two = await harness.registerSource();
    const newestOfTwo = await harness.finishedBackup(two, daysBefore(NOW, 2));
    await harness.finishedBackup(two, daysBefore(NOW, 20));
    await harness.sync();
    const before = await harness.headPosition();

    const requested = await scheduler().requestDueTests();

    // Newest first, one per source.
    expect(requested).toEqual([newestOfTwo, newestOfOne]);
    expect(await verificationsAfter(before)).toEqual([
      { backupId: newestOfTwo, actor: 'system:restore-tests' },
      { backupId: newestOfOne, actor: 'system:restore-tests' },
    ]);
    expect((await harness.eventsAfter(before)).map((event) => event.type)).toEqual([
      'BackupVerificationRequested',
      'BackupVerificationRequested',
    ]);
  });

  it('skips a removed source, an expired newest backup, one being verified and one tested within the interval', async () => {
    const removed = await harness.registerSource();
    await harness.finishedBackup(removed, daysBefore(NOW, 1));
    await harness.removeSource(removed);

    const expired = await harness.registerSource();
    await harness.finishedBackup(expired, daysBefore(EXPIRY, 30));
    await harness.finishedBackup(expired, EXPIRY);

    const pending = await harness.registerSource();
    const pendingBackup = await harness.finishedBackup(pending, daysBefore(NOW, 3));
    await harness.verification(pendingBackup, daysBefore(NOW, 1));

    const fresh = await harness.registerSource();
    const freshBackup = await harness.finishedBackup(fresh, daysBefore(NOW, 20));
    // Verified just under the interval ago: not due yet.
    await harness.verification(freshBackup, daysBefore(NOW, 7, 1), daysBefore(NOW, 7, 1));

    const due = await harness.registerSource();
    const dueBackup = await harness.finishedBackup(due, daysBefore(NOW, 30));
    // Verified exactly the interval ago: due again.
    await harness.verification(dueBackup, daysBefore(NOW, 7), daysBefore(NOW, 7));

    const stillArchived = await harness.registerSource();
    const archivedBackup = await harness.finishedBackup(stillArchived, new Date(EXPIRY.getTime() + 1));
    await harness.sync();
    const before = await harness.headPosition();

    const requested = await scheduler().requestDueTests();

    expect(requested).toEqual([dueBackup, archivedBackup]);
    expect((await verificationsAfter(before)).map((verification) => verification.backupId)).toEqual([dueBackup, archivedBackup]);
  });

  it.each([0, -1])('does nothing when the interval is %d', async (restoreTestIntervalDays) => {
    const source = await harness.registerSource();
    await harness.finishedBackup(source, daysBefore(NOW, 1));
    await harness.sync();
    const before = await harness.headPosition();

    expect(await scheduler({ restoreTestIntervalDays }).requestDueTests()).toEqual([]);
    expect(await harness.eventsAfter(before)).toEqual([]);
  });

  it('asks nothing again once the catalog shows the test it asked for', async () => {
    const source = await harness.registerSource();
    const backup = await harness.finishedBackup(source, daysBefore(NOW, 1));
    await harness.sync();
    expect(await scheduler().requestDueTests()).toEqual([backup]);
    await harness.sync();
    const before = await harness.headPosition();

    expect(await scheduler().requestDueTests()).toEqual([]);
    expect(await harness.eventsAfter(before)).toEqual([]);
  });

  it('issues no stale verification when the log has moved on past the catalog', async () => {
    const verifying = await harness.registerSource();
    const verifyingBackup = await harness.finishedBackup(verifying, daysBefore(NOW, 1));
    const deleted = await harness.registerSource();
    const deletedBackup = await harness.finishedBackup(deleted, daysBefore(NOW, 2));
    const untouched = await harness.registerSource();
    const untouchedBackup = await harness.finishedBackup(untouched, daysBefore(NOW, 3));
    await harness.sync();
    // After the catalog was read: an operator asks for a verification of one, deletes another.
    await harness.verification(verifyingBackup, NOW);
    await harness.backup({
      type: 'DeleteBackup',
      backupId: deletedBackup,
      deletionId: '3c1d0e7a-2b4f-4c6d-8e9f-000000000001',
      reason: 'operator',
    });
    const before = await harness.headPosition();

    expect(await scheduler().requestDueTests()).toEqual([untouchedBackup]);
    expect(await verificationsAfter(before)).toEqual([{ backupId: untouchedBackup, actor: 'system:restore-tests' }]);
    expect((await harness.eventsAfter(before)).length).toBe(1);
  });
});
