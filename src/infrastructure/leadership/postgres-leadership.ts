import { Logger } from '@nestjs/common';
import { Client, ClientConfig } from 'pg';
import { describeForLog } from '../../application/describe-for-log';
import { Leadership, LeaderRoles, LeadershipStatus } from '../../application/ports/leadership';

export interface PostgresLeadershipOptions {
  /** How often a standby tries for the lease and the leader checks it still holds it. */
  pollIntervalMs?: number;
}

/**
 * The lease of the distributed mode: a PostgreSQL session advisory lock, named after the schema,
 * on a connection of its own. PostgreSQL releases it when that session ends, so a leader killed
 * with -9 frees it as soon as its socket closes (or, for a host that vanished, when the TCP
 * keepalives set below give up: about 15 s), and a standby takes it at its next poll.
 *
 * The leader checks its session at each poll and steps down when the check fails: from then on
 * another process may hold the lock. Between the session's death and that check (one poll at
 * most) both may run; what they do is safe to repeat (job and event ids are deterministic,
 * checkpoints only move forward), so the overlap costs duplicate work, never a wrong state.
 */
export class PostgresLeadership implements Leadership {
  private readonly logger = new Logger('Leadership');
  private readonly pollIntervalMs: number;
  private client: Client | null = null;
  private roles: LeaderRoles | null = null;
  private since: string | null = null;
  private stopped = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;

  constructor(
    private readonly connection: ClientConfig,
    private readonly lockName: string,
    options: PostgresLeadershipOptions = {},
  ) {
    this.pollIntervalMs = options.pollIntervalMs ?? 2_000;
  }

  async campaign(roles: LeaderRoles): Promise<void> {
    this.roles = roles;
    await this.round();
    this.loop = this.campaignLoop();
  }

  status(): LeadershipStatus {
    return { role: this.since !== null ? 'leader' : 'standby', since: this.since, lease: 'postgres-advisory-lock' };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    await this.stepDown('stopping');
    await this.disconnect();
  }

  private async campaignLoop(): Promise<void> {
    while (!this.stopped) {
      await this.sleep(this.pollIntervalMs);
      if (!this.stopped) await this.round();
    }
  }

  /** One poll: try for the lease, or, holding it, check the session that holds it is alive. */
  private async round(): Promise<void> {
    try {
      const client = await this.connected();
      if (this.since === null) {
        const { rows } = await client.query<{ won: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS won', [
          this.lockName,
        ]);
        if (rows[0]?.won) await this.lead();
      } else {
        await client.query('SELECT 1');
      }
    } catch (error) {
      // The session is gone or the lead failed to start: the lock (if held) goes with the session.
      await this.stepDown(`the lease's connection failed (${describeForLog(error)})`);
      await this.disconnect();
    }
  }

  private async lead(): Promise<void> {
    this.since = new Date().toISOString();
    this.logger.log(`this process leads the control plane (lease ${this.lockName})`);
    await this.roles?.lead();
  }

  private async stepDown(why: string): Promise<void> {
    if (this.since === null) return;
    this.since = null;
    this.logger.warn(`this process no longer leads the control plane: ${why}`);
    try {
      await this.roles?.stepDown();
    } catch (error) {
      this.logger.error(`stepping down failed (${describeForLog(error)})`);
    }
  }

  private async connected(): Promise<Client> {
    if (this.client) return this.client;
    const client = new Client({ ...this.connection, keepAlive: true });
    // A dropped connection is noticed by the next round's query; without a listener it would crash the process.
    client.on('error', () => undefined);
    await client.connect();
    // Let the server, too, notice a peer that vanished without closing its socket.
    await client.query(
      "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; SET tcp_keepalives_count = 5; SET application_name = 'custodia-lease'",
    );
    this.client = client;
    return client;
  }

  private async disconnect(): Promise<void> {
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }
}
