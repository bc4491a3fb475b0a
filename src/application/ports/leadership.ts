/**
 * Which `serve` process runs the control plane's singletons: the jobs process manager and its
 * supervision, the projections, the integration-events relay and the retention timer. Each
 * reacts to the log once and must not run twice at a time; every process still answers the API.
 */
export interface Leadership {
  /**
   * Campaigns for the lease until stop(): `lead` runs when this process wins it, `stepDown` when
   * it loses it (its connection to the lease died) or stops. Resolves once the first round is
   * decided, so a process that can win at once has started leading when this returns.
   */
  campaign(roles: LeaderRoles): Promise<void>;
  status(): LeadershipStatus;
  /** Steps down (if leading) and releases the lease for another process. */
  stop(): Promise<void>;
}

export interface LeaderRoles {
  lead(): Promise<void>;
  stepDown(): Promise<void>;
}

export interface LeadershipStatus {
  role: 'leader' | 'standby';
  /** When this process last became the leader; null while it is not. */
  since: string | null;
  /** What holds the lease: `postgres-advisory-lock` or `data-dir-lock`. */
  lease: string;
}
