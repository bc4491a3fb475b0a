import { jobControlProblem, jobProblem, jobStatusProblem } from '../../src/application/jobs/messages';

/**
 * The bus messages' schemas (src/application/jobs/messages.ts) say what is wrong in the
 * sentences the dead-letter list has always given, and never echo a value.
 */
const AT = '2026-12-03T10:00:00.000Z';
const job = (kind: string, payload: Record<string, unknown>) => ({ jobId: 'j', key: 'k', kind, attempt: 1, payload });
const backup = { backupId: 'b', sourceId: 's', path: '/srv', full: true };
const restore = { restoreId: 'r', backupId: 'b', snapshotId: 'x', target: '/t', include: [] };

describe('job bus message schemas', () => {
  it.each([
    ['not a job', 'not an object'],
    [null, 'not an object'],
    [[], 'not an object'],
    [{ ...job('backup', backup), jobId: '' }, 'jobId must be a non-empty string'],
    [{ ...job('backup', backup), key: 3 }, 'key must be a non-empty string'],
    [job('teleport', backup), 'unknown kind'],
    [{ ...job('backup', backup), attempt: 0 }, 'attempt must be a positive integer'],
    [{ ...job('backup', backup), payload: [] }, 'payload must be an object'],
    [job('backup', { ...backup, sourceId: undefined }), 'payload.sourceId must be a non-empty string'],
    [job('backup', { ...backup, full: 'yes' }), 'payload.full must be a boolean'],
    [job('restore', { ...restore, include: ['a', 2] }), 'payload.include must be an array of strings'],
    [job('restore', { ...restore, subject: 'not a pseudonym!' }), 'payload.subject must be a pseudonym'],
    [job('erase', { erasureId: 'e', subject: '../x' }), 'payload.subject must be a pseudonym'],
    [job('erase', { subject: 'p' }), 'payload.erasureId must be a non-empty string'],
    [job('delete', { backupId: 'b', deletionId: 'd' }), 'payload.snapshotId must be a non-empty string'],
  ])('a job %j: %s', (value, reason) => {
    expect(jobProblem(value)).toBe(reason);
  });

  it('accepts a job of each kind', () => {
    expect(jobProblem(job('backup', { ...backup, subjectRules: ['a/{subject}/**'] }))).toBeUndefined();
    expect(jobProblem(job('restore', { ...restore, subject: 'p_1' }))).toBeUndefined();
    expect(jobProblem(job('verify', { backupId: 'b', verificationId: 'v', snapshotId: 'x' }))).toBeUndefined();
    expect(jobProblem(job('delete', { backupId: 'b', deletionId: 'd', snapshotId: 'x' }))).toBeUndefined();
    expect(jobProblem(job('erase', { erasureId: 'e', subject: 'p_1' }))).toBeUndefined();
  });

  const status = { jobId: 'j', kind: 'backup', attempt: 1, at: AT };
  it.each([
    [{ ...status, at: 'yesterday', status: 'started' }, 'at must be a timestamp'],
    [{ ...status, at: '', status: 'started' }, 'at must be a non-empty string'],
    [{ ...status, kind: 'purge', status: 'started' }, 'unknown kind'],
    [{ ...status, status: 'paused' }, 'unknown status'],
    [{ ...status, status: 'heartbeat', progress: 3 }, 'progress must be an object'],
    [
      { ...status, status: 'heartbeat', progress: { filesDone: 1, bytesDone: -2, totalFiles: 3, totalBytes: 4 } },
      'progress.bytesDone must be a non-negative integer',
    ],
    [{ ...status, status: 'completed', result: 'done' }, 'result must be an object'],
    [{ ...status, status: 'failed' }, 'failure must be an object'],
    [{ ...status, status: 'failed', failure: { code: 'E', reason: '', retryable: true } }, 'failure.reason must be a non-empty string'],
    [{ ...status, status: 'failed', failure: { code: 'E', reason: 'r' } }, 'failure.retryable must be a boolean'],
  ])('a status %j: %s', (value, reason) => {
    expect(jobStatusProblem(value)).toBe(reason);
  });

  it('leaves a result to the process manager (checked there against its kind)', () => {
    expect(jobStatusProblem({ ...status, status: 'completed', result: { anything: 1 } })).toBeUndefined();
  });

  it.each([
    [{ jobId: 'j', action: 'pause', at: AT }, 'unknown action'],
    [{ jobId: '', action: 'cancel', at: AT }, 'jobId must be a non-empty string'],
    [{ jobId: 'j', action: 'cancel', at: 'soon' }, 'at must be a timestamp'],
    [{ jobId: 'j', action: 'cancel', at: AT }, undefined],
  ])('a control message %j: %s', (value, reason) => {
    expect(jobControlProblem(value)).toBe(reason);
  });
});
