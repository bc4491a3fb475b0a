import { DEFAULT_RETENTION_POLICY, restoreTestDue, retentionStatus } from '../../src/domain';

const COMPLETED = '2030-01-01T00:00:00.000Z';
const day = (n: number) => new Date(Date.parse(COMPLETED) + n * 24 * 60 * 60 * 1000);

describe('retention policy: 30 days active, a year archived, weekly restore tests', () => {
  it('puts a backup through active, archived and expired', () => {
    const policy = DEFAULT_RETENTION_POLICY;
    expect(retentionStatus(COMPLETED, day(0), policy)).toEqual({
      phase: 'active',
      activeUntil: '2030-01-31T00:00:00.000Z',
      archivedUntil: '2031-01-31T00:00:00.000Z',
    });
    expect(retentionStatus(COMPLETED, day(29.9), policy).phase).toBe('active');
    expect(retentionStatus(COMPLETED, day(30), policy).phase).toBe('archived');
    expect(retentionStatus(COMPLETED, day(394.9), policy).phase).toBe('archived');
    expect(retentionStatus(COMPLETED, day(395), policy).phase).toBe('expired');
  });

  it('asks for a restore test when there was none or the last is a week old; never with an interval of 0', () => {
    const policy = DEFAULT_RETENTION_POLICY;
    expect(restoreTestDue(null, day(0), policy)).toBe(true);
    expect(restoreTestDue(COMPLETED, day(6.9), policy)).toBe(false);
    expect(restoreTestDue(COMPLETED, day(7), policy)).toBe(true);
    expect(restoreTestDue(null, day(0), { ...policy, restoreTestIntervalDays: 0 })).toBe(false);
  });
});
