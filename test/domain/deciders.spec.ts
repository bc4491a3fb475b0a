import {
  BackupCommand,
  backupDecider,
  BackupEvent,
  BackupState,
  BackupStatisticsData,
  DomainError,
  DomainErrorCode,
  fold,
  RestorableBackup,
  RestoreCommand,
  restoreDecider,
  RestoreEvent,
  RestoreState,
  SourceCommand,
  sourceDecider,
  SourceEvent,
  SourceState,
  problemCountsOf,
} from '../../src/domain';

const AT = '2030-01-02T03:04:05.000Z';
const LATER = '2030-01-02T04:00:00.000Z';

const SOURCE_ID = '11111111-1111-4111-8111-111111111111';
const BACKUP_ID = '22222222-2222-4222-8222-222222222222';
const RESTORE_ID = '33333333-3333-4333-8333-333333333333';
const SNAPSHOT_ID = 'a'.repeat(64);
const MERKLE_ROOT = 'b'.repeat(64);

const STATISTICS: BackupStatisticsData = {
  files: 3,
  directories: 2,
  bytesRead: 300,
  totalBytes: 300,
  newBytes: 300,
  storedBytes: 120,
  duplicateBytes: 0,
  chunks: 3,
  durationMs: 5,
  errors: 0,
};

/**
 * Runs `decide` and returns the DomainError it throws; fails the test if it returns events
 * instead (a refused command must decide nothing) or throws anything else.
 */
function refusal<C, S, E>(decider: { decide(command: C, state: S): E[] }, command: C, state: S): DomainError {
  let events: E[] | undefined;
  try {
    events = decider.decide(command, state);
  } catch (error) {
    expect(error).toBeInstanceOf(DomainError);
    return error as DomainError;
  }
  throw new Error(`expected a DomainError, but the command was accepted with ${JSON.stringify(events)}`);
}

function expectRefused<C, S, E>(decider: { decide(command: C, state: S): E[] }, command: C, state: S, code: DomainErrorCode): DomainError {
  const error = refusal(decider, command, state);
  expect(error.code).toBe(code);
  expect(error.message.length).toBeGreaterThan(0);
  return error;
}

describe('sourceDecider', () => {
  /** The registered source's state, apart from its status. */
  const letters = { sourceId: SOURCE_ID, name: 'letters', path: '/data/letters', subjectRules: [], dataCategories: [], purposes: [] };

  const register: SourceCommand = { type: 'RegisterSource', sourceId: SOURCE_ID, name: 'letters', path: '/data/letters', at: AT };
  const registered: SourceEvent = {
    type: 'SourceRegistered',
    data: { sourceId: SOURCE_ID, name: 'letters', path: '/data/letters', at: AT },
  };
  const removed: SourceEvent = { type: 'SourceRemoved', data: { sourceId: SOURCE_ID, at: LATER } };
  const active = fold(sourceDecider, [registered]);
  const gone = fold(sourceDecider, [registered, removed]);

  it('registers a new source', () => {
    expect(sourceDecider.decide(register, sourceDecider.initialState)).toEqual([registered]);
    expect(active).toEqual({ status: 'active', ...letters });
  });

  it('refuses to register the same source twice', () => {
    expectRefused(sourceDecider, register, active, 'ALREADY_EXISTS');
    expectRefused(sourceDecider, register, gone, 'ALREADY_EXISTS');
  });

  it.each(['data/letters', './letters', '', '/data/\0letters'])('refuses the non-absolute or invalid path %j', (path) => {
    const error = expectRefused(sourceDecider, { ...register, path }, sourceDecider.initialState, 'INVALID_INPUT');
    expect(error.message).toMatch(/absolute/);
  });

  it('refuses to move an existing source to a relative path', () => {
    expectRefused(sourceDecider, { type: 'UpdateSource', sourceId: SOURCE_ID, path: 'elsewhere', at: LATER }, active, 'INVALID_INPUT');
  });

  it('records only the fields an update changes', () => {
    expect(sourceDecider.decide({ type: 'UpdateSource', sourceId: SOURCE_ID, name: 'mail', at: LATER }, active)).toEqual([
      { type: 'SourceUpdated', data: { sourceId: SOURCE_ID, name: 'mail', at: LATER } },
    ]);
    // The name is unchanged, so only the path is recorded.
    expect(
      sourceDecider.decide({ type: 'UpdateSource', sourceId: SOURCE_ID, name: 'letters', path: '/data/mail', at: LATER }, active),
    ).toEqual([{ type: 'SourceUpdated', data: { sourceId: SOURCE_ID, path: '/data/mail', at: LATER } }]);
    expect(
      sourceDecider.decide({ type: 'UpdateSource', sourceId: SOURCE_ID, name: 'mail', path: '/data/mail', at: LATER }, active),
    ).toEqual([{ type: 'SourceUpdated', data: { sourceId: SOURCE_ID, name: 'mail', path: '/data/mail', at: LATER } }]);
  });

  it('emits nothing for an update that changes nothing', () => {
    expect(sourceDecider.decide({ type: 'UpdateSource', sourceId: SOURCE_ID, at: LATER }, active)).toEqual([]);
    expect(
      sourceDecider.decide({ type: 'UpdateSource', sourceId: SOURCE_ID, name: 'letters', path: '/data/letters', at: LATER }, active),
    ).toEqual([]);
  });

  it('folds updates into the state, keeping fields an update did not carry', () => {
    const state = fold(sourceDecider, [
      registered,
      { type: 'SourceUpdated', data: { sourceId: SOURCE_ID, name: 'mail', at: LATER } },
      { type: 'SourceUpdated', data: { sourceId: SOURCE_ID, path: '/data/mail', at: LATER } },
    ]);
    expect(state).toEqual({
      status: 'active',
      sourceId: SOURCE_ID,
      name: 'mail',
      path: '/data/mail',
      subjectRules: [],
      dataCategories: [],
      purposes: [],
    });
  });

  it('records subject rules when given, and an update only when they change', () => {
    const rules = ['customers/{subject}/**'];
    const [withRules] = sourceDecider.decide({ ...register, subjectRules: rules }, sourceDecider.initialState);
    expect(withRules).toMatchObject({ type: 'SourceRegistered', data: { subjectRules: rules } });
    const state = sourceDecider.evolve(sourceDecider.initialState, withRules);
    expect(state).toMatchObject({ subjectRules: rules });
    expect(sourceDecider.decide({ type: 'UpdateSource', sourceId: SOURCE_ID, subjectRules: [...rules], at: LATER }, state)).toEqual([]);
    expect(sourceDecider.decide({ type: 'UpdateSource', sourceId: SOURCE_ID, subjectRules: [], at: LATER }, state)).toEqual([
      { type: 'SourceUpdated', data: { sourceId: SOURCE_ID, subjectRules: [], at: LATER } },
    ]);
  });

  it('records declared data categories and purposes, and an update only of the lists that change', () => {
    const declared = { dataCategories: ['contact details'], purposes: ['business continuity'] };
    const [registeredWith] = sourceDecider.decide({ ...register, ...declared }, sourceDecider.initialState);
    expect(registeredWith.data).toMatchObject(declared);
    const state = sourceDecider.evolve(sourceDecider.initialState, registeredWith);
    const update = { type: 'UpdateSource' as const, sourceId: SOURCE_ID, at: LATER };
    expect(sourceDecider.decide({ ...update, ...declared }, state)).toEqual([]);
    expect(sourceDecider.decide({ ...update, ...declared, purposes: ['archiving'] }, state)).toEqual([
      { type: 'SourceUpdated', data: { sourceId: SOURCE_ID, purposes: ['archiving'], at: LATER } },
    ]);
  });

  it('removes an active source and keeps what it was', () => {
    expect(sourceDecider.decide({ type: 'RemoveSource', sourceId: SOURCE_ID, at: LATER }, active)).toEqual([removed]);
    expect(gone).toEqual({ status: 'removed', ...letters });
  });

  it('refuses to update or remove a removed source', () => {
    expectRefused(sourceDecider, { type: 'UpdateSource', sourceId: SOURCE_ID, name: 'mail', at: LATER }, gone, 'INVALID_TRANSITION');
    expectRefused(sourceDecider, { type: 'RemoveSource', sourceId: SOURCE_ID, at: LATER }, gone, 'INVALID_TRANSITION');
  });

  it('answers NOT_FOUND for commands on a source that was never registered', () => {
    const none: SourceState = sourceDecider.initialState;
    expectRefused(sourceDecider, { type: 'UpdateSource', sourceId: SOURCE_ID, name: 'mail', at: LATER }, none, 'NOT_FOUND');
    expectRefused(sourceDecider, { type: 'RemoveSource', sourceId: SOURCE_ID, at: LATER }, none, 'NOT_FOUND');
  });
});

describe('backupDecider', () => {
  const request: BackupCommand = {
    type: 'RequestBackup',
    backupId: BACKUP_ID,
    sourceId: SOURCE_ID,
    backupType: 'full',
    sourceActive: true,
    at: AT,
  };
  const requested: BackupEvent = {
    type: 'BackupRequested',
    data: { backupId: BACKUP_ID, sourceId: SOURCE_ID, backupType: 'full', at: AT },
  };
  const started = (jobId = 'job-1', attempt = 1): BackupEvent => ({
    type: 'BackupStarted',
    data: { backupId: BACKUP_ID, jobId, attempt, at: AT },
  });
  const completed: BackupEvent = {
    type: 'BackupCompleted',
    data: { backupId: BACKUP_ID, jobId: 'job-1', snapshotId: SNAPSHOT_ID, merkleRoot: MERKLE_ROOT, statistics: STATISTICS, at: LATER },
  };
  const failed: BackupEvent = {
    type: 'BackupFailed',
    data: {
      backupId: BACKUP_ID,
      jobId: 'job-1',
      code: 'SOURCE_NOT_FOUND',
      reason: 'the source folder does not exist',
      retryable: false,
      at: LATER,
    },
  };
  const cancelled: BackupEvent = { type: 'BackupCancelled', data: { backupId: BACKUP_ID, reason: 'not needed', at: LATER } };
  const verificationRequested = (verificationId = 'verify-1'): BackupEvent => ({
    type: 'BackupVerificationRequested',
    data: { backupId: BACKUP_ID, verificationId, at: LATER },
  });

  const none: BackupState = backupDecider.initialState;
  const requestedState = fold(backupDecider, [requested]);
  const running = fold(backupDecider, [requested, started()]);
  const done = fold(backupDecider, [requested, started(), completed]);
  const failedState = fold(backupDecider, [requested, started(), failed]);
  const cancelledState = fold(backupDecider, [requested, cancelled]);
  const verifying = fold(backupDecider, [requested, started(), completed, verificationRequested()]);

  const start = (jobId = 'job-1', attempt = 1): BackupCommand => ({ type: 'StartBackup', backupId: BACKUP_ID, jobId, attempt, at: AT });
  const complete: BackupCommand = {
    type: 'CompleteBackup',
    backupId: BACKUP_ID,
    jobId: 'job-1',
    snapshotId: SNAPSHOT_ID,
    merkleRoot: MERKLE_ROOT,
    statistics: STATISTICS,
    at: LATER,
  };
  const fail: BackupCommand = {
    type: 'FailBackup',
    backupId: BACKUP_ID,
    jobId: 'job-1',
    code: 'SOURCE_NOT_FOUND',
    reason: 'the source folder does not exist',
    retryable: false,
    at: LATER,
  };
  const cancel: BackupCommand = { type: 'CancelBackup', backupId: BACKUP_ID, reason: 'not needed', at: LATER };
  const verify = (verificationId = 'verify-1'): BackupCommand => ({ type: 'VerifyBackup', backupId: BACKUP_ID, verificationId, at: LATER });
  const recordVerified = (verificationId = 'verify-1'): BackupCommand => ({
    type: 'RecordVerification',
    backupId: BACKUP_ID,
    verificationId,
    outcome: 'verified',
    blobsChecked: 7,
    bytesChecked: 4096,
    at: LATER,
  });
  const recordFailed = (verificationId = 'verify-1'): BackupCommand => ({
    type: 'RecordVerification',
    backupId: BACKUP_ID,
    verificationId,
    outcome: 'failed',
    code: 'BLOB_DAMAGED',
    reason: 'repository data is damaged',
    retryable: false,
    at: LATER,
  });

  describe('happy path', () => {
    it('requests a backup of an active source', () => {
      expect(backupDecider.decide(request, none)).toEqual([requested]);
      expect(requestedState).toEqual({
        status: 'requested',
        backupId: BACKUP_ID,
        sourceId: SOURCE_ID,
        backupType: 'full',
        jobId: null,
        attempt: 0,
        snapshotId: null,
        merkleRoot: null,
        verification: 'none',
        pendingVerification: null,
        pendingDeletion: null,
        discards: [],
        pendingDiscards: [],
      });
    });

    it('starts, then completes with the snapshot', () => {
      expect(backupDecider.decide(start(), requestedState)).toEqual([started()]);
      expect(running).toMatchObject({ status: 'running', jobId: 'job-1', attempt: 1 });
      expect(backupDecider.decide(complete, running)).toEqual([completed]);
      expect(done).toMatchObject({ status: 'completed', snapshotId: SNAPSHOT_ID, merkleRoot: MERKLE_ROOT, verification: 'none' });
    });

    it('fails with the reason given', () => {
      expect(backupDecider.decide(fail, running)).toEqual([failed]);
      expect(failedState).toMatchObject({ status: 'failed', snapshotId: null });
    });

    it('can fail before any worker started it', () => {
      expect(backupDecider.decide({ ...fail, jobId: null }, requestedState)).toEqual([
        {
          type: 'BackupFailed',
          data: {
            backupId: BACKUP_ID,
            jobId: null,
            code: 'SOURCE_NOT_FOUND',
            reason: 'the source folder does not exist',
            retryable: false,
            at: LATER,
          },
        },
      ]);
    });

    it('cancels a requested or running backup', () => {
      expect(backupDecider.decide(cancel, requestedState)).toEqual([cancelled]);
      expect(backupDecider.decide(cancel, running)).toEqual([cancelled]);
      expect(cancelledState).toMatchObject({ status: 'cancelled' });
    });

    it('verifies a completed backup: requested, then verified', () => {
      expect(backupDecider.decide(verify(), done)).toEqual([verificationRequested()]);
      expect(verifying).toMatchObject({ status: 'completed', verification: 'requested', pendingVerification: 'verify-1' });
      expect(backupDecider.decide(recordVerified(), verifying)).toEqual([
        {
          type: 'BackupVerified',
          data: { backupId: BACKUP_ID, verificationId: 'verify-1', blobsChecked: 7, bytesChecked: 4096, at: LATER },
        },
      ]);
      const verified = fold(backupDecider, [
        requested,
        started(),
        completed,
        verificationRequested(),
        ...backupDecider.decide(recordVerified(), verifying),
      ]);
      expect(verified).toMatchObject({ status: 'completed', verification: 'verified', pendingVerification: null });
    });

    it('records a failed verification, after which a new verification may be requested', () => {
      const outcome = backupDecider.decide(recordFailed(), verifying);
      expect(outcome).toEqual([
        {
          type: 'BackupVerificationFailed',
          data: {
            backupId: BACKUP_ID,
            verificationId: 'verify-1',
            code: 'BLOB_DAMAGED',
            reason: 'repository data is damaged',
            retryable: false,
            at: LATER,
          },
        },
      ]);
      const state = outcome.reduce(backupDecider.evolve, verifying);
      expect(state).toMatchObject({ status: 'completed', verification: 'failed', pendingVerification: null });
      expect(backupDecider.decide(verify('verify-2'), state)).toEqual([verificationRequested('verify-2')]);
    });
  });

  describe('starting is idempotent per job and attempt', () => {
    it('emits nothing when the same job reports the same attempt again', () => {
      expect(backupDecider.decide(start('job-1', 1), running)).toEqual([]);
    });

    it('emits nothing for an older attempt of the same job', () => {
      const second = fold(backupDecider, [requested, started('job-1', 1), started('job-1', 2)]);
      expect(backupDecider.decide(start('job-1', 1), second)).toEqual([]);
    });

    it('emits a new BackupStarted for a higher attempt, and the state follows it', () => {
      const events = backupDecider.decide(start('job-1', 2), running);
      expect(events).toEqual([started('job-1', 2)]);
      expect(events.reduce(backupDecider.evolve, running)).toMatchObject({ status: 'running', jobId: 'job-1', attempt: 2 });
    });
  });

  describe('invalid transitions decide nothing', () => {
    it('refuses a backup of an inactive (removed) source', () => {
      const error = expectRefused(backupDecider, { ...request, sourceActive: false }, none, 'INVALID_TRANSITION');
      expect(error.message).toContain(SOURCE_ID);
    });

    it('refuses to cancel a completed, failed or cancelled backup', () => {
      expectRefused(backupDecider, cancel, done, 'INVALID_TRANSITION');
      expectRefused(backupDecider, cancel, failedState, 'INVALID_TRANSITION');
      expectRefused(backupDecider, cancel, cancelledState, 'INVALID_TRANSITION');
    });

    it('refuses to complete twice', () => {
      expectRefused(backupDecider, complete, done, 'INVALID_TRANSITION');
    });

    it('refuses to complete a failed or cancelled backup', () => {
      expectRefused(backupDecider, complete, failedState, 'INVALID_TRANSITION');
      expectRefused(backupDecider, complete, cancelledState, 'INVALID_TRANSITION');
    });

    it('refuses to fail after completion, or to fail twice', () => {
      expectRefused(backupDecider, fail, done, 'INVALID_TRANSITION');
      expectRefused(backupDecider, fail, failedState, 'INVALID_TRANSITION');
    });

    it('refuses to start a settled backup', () => {
      expectRefused(backupDecider, start('job-1', 2), done, 'INVALID_TRANSITION');
      expectRefused(backupDecider, start('job-2', 1), cancelledState, 'INVALID_TRANSITION');
      expectRefused(backupDecider, start('job-1', 2), failedState, 'INVALID_TRANSITION');
    });

    it.each([
      ['requested', requestedState],
      ['running', running],
      ['failed', failedState],
      ['cancelled', cancelledState],
    ])('refuses to verify a %s backup', (_status, state) => {
      const error = expectRefused(backupDecider, verify(), state, 'INVALID_TRANSITION');
      expect(error.message).toMatch(/only a completed backup/);
    });

    it('refuses a second verification while one is pending', () => {
      expectRefused(backupDecider, verify('verify-2'), verifying, 'INVALID_TRANSITION');
    });

    it('refuses to record a verification that is not pending', () => {
      // none was ever requested
      expectRefused(backupDecider, recordVerified(), done, 'INVALID_TRANSITION');
      // another one is pending
      expectRefused(backupDecider, recordVerified('verify-other'), verifying, 'INVALID_TRANSITION');
      expectRefused(backupDecider, recordFailed('verify-other'), verifying, 'INVALID_TRANSITION');
      // the pending one was already recorded
      const recorded = backupDecider.decide(recordVerified(), verifying).reduce(backupDecider.evolve, verifying);
      expectRefused(backupDecider, recordVerified(), recorded, 'INVALID_TRANSITION');
    });
  });

  describe('deletion (retention or an operator)', () => {
    const deleteBackup = (reason: 'retention' | 'operator' = 'retention'): BackupCommand => ({
      type: 'DeleteBackup',
      backupId: BACKUP_ID,
      deletionId: 'deletion-1',
      reason,
      at: LATER,
    });
    const deletionRequested: BackupEvent = {
      type: 'BackupDeletionRequested',
      data: { backupId: BACKUP_ID, deletionId: 'deletion-1', snapshotId: SNAPSHOT_ID, reason: 'retention', at: LATER },
    };
    const prune = { blobsRemoved: 3, erasedBlobsRemoved: 1, bytesFreed: 4096 };
    const recordDeleted = (deletionId = 'deletion-1'): BackupCommand => ({
      type: 'RecordBackupDeleted',
      backupId: BACKUP_ID,
      deletionId,
      jobId: 'delete-job',
      prune,
      at: LATER,
    });
    const failDeletion: BackupCommand = {
      type: 'FailBackupDeletion',
      backupId: BACKUP_ID,
      deletionId: 'deletion-1',
      jobId: 'delete-job',
      code: 'IO_ERROR',
      reason: 'the repository cannot be reached',
      retryable: true,
      at: LATER,
    };
    const deleting = fold(backupDecider, [requested, started(), completed, deletionRequested]);

    it('deletes a completed backup: deleting, then deleted with what the prune freed', () => {
      expect(backupDecider.decide(deleteBackup(), done)).toEqual([deletionRequested]);
      expect(deleting).toMatchObject({ status: 'deleting', pendingDeletion: 'deletion-1' });
      const deleted = backupDecider.decide(recordDeleted(), deleting);
      expect(deleted).toEqual([
        { type: 'BackupDeleted', data: { backupId: BACKUP_ID, deletionId: 'deletion-1', jobId: 'delete-job', prune, at: LATER } },
      ]);
      expect(deleted.reduce(backupDecider.evolve, deleting)).toMatchObject({ status: 'deleted', pendingDeletion: null });
    });

    it('leaves the backup completed when the deletion fails, so it can be asked again', () => {
      const afterFailure = backupDecider.decide(failDeletion, deleting).reduce(backupDecider.evolve, deleting);
      expect(afterFailure).toMatchObject({ status: 'completed', pendingDeletion: null });
      expect(backupDecider.decide(deleteBackup('operator'), afterFailure)).toHaveLength(1);
    });

    it('refuses to delete a backup that is not completed, being verified, or being deleted', () => {
      for (const state of [requestedState, running, failedState, cancelledState, verifying, deleting]) {
        expectRefused(backupDecider, deleteBackup(), state, 'INVALID_TRANSITION');
      }
    });

    describe('a snapshot a worker wrote after its backup was cancelled or had failed', () => {
      const discard: BackupCommand = {
        type: 'DiscardSnapshot',
        backupId: BACKUP_ID,
        deletionId: 'discard-1',
        snapshotId: 'late',
        at: LATER,
      };
      const discardRequested: BackupEvent = {
        type: 'BackupDeletionRequested',
        data: { backupId: BACKUP_ID, deletionId: 'discard-1', snapshotId: 'late', reason: 'discard', at: LATER },
      };

      it.each([
        ['cancelled', cancelledState],
        ['failed', failedState],
      ])('is deleted while the %s backup keeps its status', (status, state) => {
        expect(backupDecider.decide(discard, state)).toEqual([discardRequested]);
        const discarding = backupDecider.evolve(state, discardRequested);
        expect(discarding).toMatchObject({ status, pendingDeletion: null, pendingDiscards: ['discard-1'], discards: ['discard-1'] });
        const deleted = backupDecider.decide(recordDeleted('discard-1'), discarding).reduce(backupDecider.evolve, discarding);
        expect(deleted).toMatchObject({ status, pendingDiscards: [] });
        // Reported again (a redelivered status message): nothing new is asked.
        expect(backupDecider.decide(discard, deleted)).toEqual([]);
        expect(backupDecider.decide(discard, discarding)).toEqual([]);
      });

      it('discards two late snapshots at once, and asks again for one whose deletion failed', () => {
        const second: BackupCommand = { ...discard, deletionId: 'discard-2', snapshotId: 'later' } as BackupCommand;
        const one = backupDecider.evolve(cancelledState, discardRequested);
        const both = backupDecider.decide(second, one).reduce(backupDecider.evolve, one);
        expect(both).toMatchObject({ status: 'cancelled', pendingDiscards: ['discard-1', 'discard-2'] });
        const failedDiscard = { ...failDeletion, deletionId: 'discard-1' } as BackupCommand;
        const afterFailure = backupDecider.decide(failedDiscard, both).reduce(backupDecider.evolve, both);
        expect(afterFailure).toMatchObject({ status: 'cancelled', pendingDiscards: ['discard-2'], discards: ['discard-2'] });
        expect(backupDecider.decide(discard, afterFailure)).toEqual([discardRequested]);
        const secondDone = backupDecider.decide(recordDeleted('discard-2'), afterFailure).reduce(backupDecider.evolve, afterFailure);
        expect(secondDone).toMatchObject({ status: 'cancelled', pendingDiscards: [] });
      });

      it('is refused for a backup that did take a snapshot, or is still running', () => {
        for (const state of [requestedState, running, done, deleting]) expectRefused(backupDecider, discard, state, 'INVALID_TRANSITION');
      });
    });

    it('refuses to record a deletion that is not pending, and to verify a deleted backup', () => {
      expectRefused(backupDecider, recordDeleted(), done, 'INVALID_TRANSITION');
      expectRefused(backupDecider, recordDeleted('deletion-other'), deleting, 'INVALID_TRANSITION');
      const deleted = backupDecider.decide(recordDeleted(), deleting).reduce(backupDecider.evolve, deleting);
      expectRefused(backupDecider, recordDeleted(), deleted, 'INVALID_TRANSITION');
      expectRefused(backupDecider, verify(), deleted, 'INVALID_TRANSITION');
    });
  });

  it('records a read of the problem list of a completed backup only, with its snapshot', () => {
    const read: BackupCommand = { type: 'RecordProblemsRead', backupId: BACKUP_ID, readId: 'read-1', at: LATER };
    expect(backupDecider.decide(read, done)).toEqual([
      { type: 'BackupProblemsRead', data: { backupId: BACKUP_ID, readId: 'read-1', snapshotId: SNAPSHOT_ID, at: LATER } },
    ]);
    // Reading changes nothing about the backup.
    expect(fold(backupDecider, [requested, started(), completed, ...backupDecider.decide(read, done)])).toEqual(done);
    for (const state of [requestedState, running, failedState, cancelledState]) {
      expect(() => backupDecider.decide(read, state)).toThrow(expect.objectContaining({ code: 'NO_SNAPSHOT' }));
    }
    expect(() => backupDecider.decide(read, none)).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
  });

  it('completes with problem counts by reason, and replays a completion recorded before they existed', () => {
    const withProblems = { ...STATISTICS, problems: { socket: 2, unreadable: 1 } };
    expect(backupDecider.decide({ ...complete, statistics: withProblems } as BackupCommand, running)).toEqual([
      { ...completed, data: { ...completed.data, statistics: withProblems } },
    ]);
    // STATISTICS has no `problems`: an event of an older build, which still folds.
    expect(fold(backupDecider, [requested, started(), completed]).status).toBe('completed');
    // Only known reasons with positive integer counts reach an event.
    expect(problemCountsOf({ socket: 2, changed: 0, unreadable: 1.5, metadata: '3', 'a/path': 1 })).toEqual({ socket: 2 });
    expect(problemCountsOf(null)).toEqual({});
  });

  it('refuses to request the same backup twice', () => {
    expectRefused(backupDecider, request, requestedState, 'ALREADY_EXISTS');
    expectRefused(backupDecider, request, done, 'ALREADY_EXISTS');
  });

  it.each<[string, BackupCommand]>([
    ['StartBackup', start()],
    ['CompleteBackup', complete],
    ['FailBackup', fail],
    ['CancelBackup', cancel],
    ['VerifyBackup', verify()],
    ['RecordVerification', recordVerified()],
  ])('answers NOT_FOUND for %s on a backup that was never requested', (_type, command) => {
    const error = expectRefused(backupDecider, command, none, 'NOT_FOUND');
    expect(error.message).toContain(BACKUP_ID);
  });
});

describe('restoreDecider', () => {
  const completedBackup: RestorableBackup = { status: 'completed', sourceId: SOURCE_ID, snapshotId: SNAPSHOT_ID };
  const requestRestore = (backup: RestorableBackup = completedBackup): RestoreCommand => ({
    type: 'RequestRestore',
    restoreId: RESTORE_ID,
    backupId: BACKUP_ID,
    backup,
    target: '/restores/letters',
    include: ['letters'],
    purpose: 'subject access request',
    at: AT,
  });
  const requested: RestoreEvent = {
    type: 'RestoreRequested',
    data: {
      restoreId: RESTORE_ID,
      backupId: BACKUP_ID,
      sourceId: SOURCE_ID,
      snapshotId: SNAPSHOT_ID,
      target: '/restores/letters',
      include: ['letters'],
      purpose: 'subject access request',
      at: AT,
    },
  };
  const started = (jobId = 'job-r', attempt = 1): RestoreEvent => ({
    type: 'RestoreStarted',
    data: { restoreId: RESTORE_ID, jobId, attempt, at: AT },
  });
  const completed: RestoreEvent = {
    type: 'RestoreCompleted',
    data: { restoreId: RESTORE_ID, jobId: 'job-r', files: 3, bytes: 300, at: LATER },
  };
  const failed: RestoreEvent = {
    type: 'RestoreFailed',
    data: {
      restoreId: RESTORE_ID,
      jobId: 'job-r',
      code: 'TARGET_NOT_EMPTY',
      reason: 'the restore target is not empty',
      retryable: false,
      at: LATER,
    },
  };

  const none: RestoreState = restoreDecider.initialState;
  const requestedState = fold(restoreDecider, [requested]);
  const running = fold(restoreDecider, [requested, started()]);
  const done = fold(restoreDecider, [requested, started(), completed]);
  const failedState = fold(restoreDecider, [requested, started(), failed]);

  const start = (jobId = 'job-r', attempt = 1): RestoreCommand => ({ type: 'StartRestore', restoreId: RESTORE_ID, jobId, attempt, at: AT });
  const complete: RestoreCommand = { type: 'CompleteRestore', restoreId: RESTORE_ID, jobId: 'job-r', files: 3, bytes: 300, at: LATER };
  const fail: RestoreCommand = {
    type: 'FailRestore',
    restoreId: RESTORE_ID,
    jobId: 'job-r',
    code: 'TARGET_NOT_EMPTY',
    reason: 'the restore target is not empty',
    retryable: false,
    at: LATER,
  };

  it('requests a restore of a completed backup, taking source and snapshot from the backup', () => {
    expect(restoreDecider.decide(requestRestore(), none)).toEqual([requested]);
    expect(requestedState).toEqual({ status: 'requested', restoreId: RESTORE_ID, backupId: BACKUP_ID, jobId: null, attempt: 0 });
  });

  it('starts and completes', () => {
    expect(restoreDecider.decide(start(), requestedState)).toEqual([started()]);
    expect(running).toMatchObject({ status: 'running', jobId: 'job-r', attempt: 1 });
    expect(restoreDecider.decide(complete, running)).toEqual([completed]);
    expect(done).toMatchObject({ status: 'completed' });
  });

  it('fails with the reason given', () => {
    expect(restoreDecider.decide(fail, running)).toEqual([failed]);
    expect(failedState).toMatchObject({ status: 'failed' });
  });

  it('is idempotent for the same job and attempt, and records a higher attempt', () => {
    expect(restoreDecider.decide(start('job-r', 1), running)).toEqual([]);
    expect(restoreDecider.decide(start('job-r', 2), running)).toEqual([started('job-r', 2)]);
  });

  it.each<[string, RestorableBackup]>([
    ['failed', { status: 'failed', sourceId: SOURCE_ID, snapshotId: null }],
    ['cancelled', { status: 'cancelled', sourceId: SOURCE_ID, snapshotId: null }],
    ['running', { status: 'running', sourceId: SOURCE_ID, snapshotId: null }],
    ['deleting', { status: 'deleting', sourceId: SOURCE_ID, snapshotId: SNAPSHOT_ID }],
    ['deleted', { status: 'deleted', sourceId: SOURCE_ID, snapshotId: SNAPSHOT_ID }],
    ['requested', { status: 'requested', sourceId: SOURCE_ID, snapshotId: null }],
  ])('refuses to restore a %s backup', (status, backup) => {
    const error = expectRefused(restoreDecider, requestRestore(backup), none, 'INVALID_TRANSITION');
    expect(error.message).toContain(`is ${status}`);
  });

  it('refuses to restore a "completed" backup that has no snapshot', () => {
    expectRefused(
      restoreDecider,
      requestRestore({ status: 'completed', sourceId: SOURCE_ID, snapshotId: null }),
      none,
      'INVALID_TRANSITION',
    );
  });

  it('answers NOT_FOUND for a restore of a backup that does not exist', () => {
    const error = expectRefused(restoreDecider, requestRestore({ status: 'none' }), none, 'NOT_FOUND');
    expect(error.message).toContain(BACKUP_ID);
  });

  it('refuses to request the same restore twice', () => {
    expectRefused(restoreDecider, requestRestore(), requestedState, 'ALREADY_EXISTS');
  });

  it('refuses to start, complete or fail a completed restore', () => {
    expectRefused(restoreDecider, start('job-r', 2), done, 'INVALID_TRANSITION');
    expectRefused(restoreDecider, start('job-other', 1), done, 'INVALID_TRANSITION');
    expectRefused(restoreDecider, complete, done, 'INVALID_TRANSITION');
    expectRefused(restoreDecider, fail, done, 'INVALID_TRANSITION');
  });

  it('refuses to start or complete a failed restore', () => {
    expectRefused(restoreDecider, start('job-r', 2), failedState, 'INVALID_TRANSITION');
    expectRefused(restoreDecider, complete, failedState, 'INVALID_TRANSITION');
  });

  it.each<[string, RestoreCommand]>([
    ['StartRestore', start()],
    ['CompleteRestore', complete],
    ['FailRestore', fail],
  ])('answers NOT_FOUND for %s on a restore that was never requested', (_type, command) => {
    const error = expectRefused(restoreDecider, command, none, 'NOT_FOUND');
    expect(error.message).toContain(RESTORE_ID);
  });
});
