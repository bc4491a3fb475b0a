import { JOB_KINDS } from '../../src/application/jobs';

describe('job kinds: public sentences for an engine INVALID_ARGUMENT', () => {
  const restore = {
    jobId: 'restore-e1',
    kind: 'restore' as const,
    key: 's1',
    attempt: 1,
    payload: { restoreId: 'r1', backupId: 'b1', snapshotId: 'x', target: '/t', include: ['./docs/', 'a'] },
  };

  it('a restore quotes the engine only when it names nothing but the include paths the request carried', () => {
    const reason = (message: string) => JOB_KINDS.restore.invalidArgumentReason(restore, message);
    expect(reason('--include docs, a: no such path in the snapshot')).toBe('--include docs, a: no such path in the snapshot');
    expect(reason('--include secret/customer-42: no such path in the snapshot')).toBe('an --include path matches nothing in the snapshot');
    expect(
      reason('--include b: no such path in the snapshot (or it lies inside data of an erased subject, whose names cannot be read)'),
    ).toBe('an --include path matches nothing in the snapshot (or it lies inside data of an erased subject, whose names cannot be read)');
    expect(reason('something about /srv/customer-42')).toBe(
      'the restore request is not valid for this snapshot (its include paths or data subject)',
    );
  });

  it('the other kinds say their own sentence and never the engine message', () => {
    const job = { jobId: 'j', key: 'k', attempt: 1 };
    const message = 'something about /srv/customer-42';
    expect(
      JOB_KINDS.backup.invalidArgumentReason(
        { ...job, kind: 'backup', payload: { backupId: 'b', sourceId: 's', path: '/p', full: true } },
        message,
      ),
    ).toBe('the source is neither a folder nor a file, or a subject rule of the source is invalid');
    expect(JOB_KINDS.erase.invalidArgumentReason({ ...job, kind: 'erase', payload: { erasureId: 'e', subject: 'p' } }, message)).toBe(
      'the job is not valid for this repository',
    );
  });
});
