import { randomUUID } from 'node:crypto';
import { LeaderRoles } from '../../src/application/ports/leadership';
import { PostgresLeadership } from '../../src/infrastructure/leadership/postgres-leadership';
import { postgresConnection, withClient } from './support/postgres';

/** A candidate whose role changes the test can await: no sleeps, only what the lease did. */
function candidate(lockName: string) {
  const events: string[] = [];
  let next: { until: string; resolve: () => void } | null = null;
  const record = (event: string) => {
    events.push(event);
    if (next?.until === event) next.resolve();
  };
  const roles: LeaderRoles = { lead: async () => record('lead'), stepDown: async () => record('stepDown') };
  const leadership = new PostgresLeadership(postgresConnection(), lockName, { pollIntervalMs: 100 });
  return {
    leadership,
    events,
    roles,
    /** Resolves when the candidate next does `event` (or at once if it already did it last). */
    next: (event: string) =>
      events.at(-1) === event ? Promise.resolve() : new Promise<void>((resolve) => (next = { until: event, resolve })),
  };
}

/** Ends the lease's session from outside, as the server does when its process dies. */
async function killLeaseSession(): Promise<number> {
  return withClient(async (client) => {
    const { rowCount } = await client.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'custodia-lease' AND pid <> pg_backend_pid() AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = pg_stat_activity.pid AND l.locktype = 'advisory')",
    );
    return rowCount ?? 0;
  });
}

describe('PostgreSQL leadership (advisory lock)', () => {
  const started: PostgresLeadership[] = [];
  afterEach(async () => {
    for (const leadership of started.splice(0)) await leadership.stop();
  });

  it('lets one candidate of several lead, and the other take over when the leader stops', async () => {
    const lock = `test-lease-${randomUUID()}`;
    const [first, second] = [candidate(lock), candidate(lock)];
    started.push(first.leadership, second.leadership);

    await first.leadership.campaign(first.roles);
    await second.leadership.campaign(second.roles);
    expect(first.leadership.status()).toMatchObject({ role: 'leader', lease: 'postgres-advisory-lock' });
    expect(second.leadership.status()).toMatchObject({ role: 'standby', since: null });

    const takeover = second.next('lead');
    await first.leadership.stop();
    expect(first.events).toEqual(['lead', 'stepDown']);
    await takeover;
    expect(second.leadership.status().role).toBe('leader');
  });

  it('moves the lease when the leader’s session dies (as with kill -9), and the old leader steps down', async () => {
    const lock = `test-lease-${randomUUID()}`;
    const [first, second] = [candidate(lock), candidate(lock)];
    started.push(first.leadership, second.leadership);
    await first.leadership.campaign(first.roles);
    await second.leadership.campaign(second.roles);

    const [stepped, takeover] = [first.next('stepDown'), second.next('lead')];
    expect(await killLeaseSession()).toBeGreaterThanOrEqual(1);
    await Promise.all([stepped, takeover]);
    expect(second.leadership.status().role).toBe('leader');
    // The old leader campaigns again and stays standby while the new one holds the lease.
    expect(first.leadership.status().role).toBe('standby');
    expect(second.events).toEqual(['lead']);
  });

  it('keeps leases of different schemas apart', async () => {
    const [one, other] = [candidate(`test-lease-${randomUUID()}`), candidate(`test-lease-${randomUUID()}`)];
    started.push(one.leadership, other.leadership);
    await one.leadership.campaign(one.roles);
    await other.leadership.campaign(other.roles);
    expect([one.leadership.status().role, other.leadership.status().role]).toEqual(['leader', 'leader']);
  });
});
