/** Tunables of the control plane, read from the environment by the infrastructure. */
export interface OrchestrationSettings {
  /** A job not heard from (start, heartbeat, result) for this long is retried or failed. */
  jobHeartbeatTimeoutMs: number;
  /** How often open jobs are checked against that timeout. */
  jobSupervisionIntervalMs: number;
  /** Attempts per job, counting the first. */
  jobMaxAttempts: number;
  /** Delay before the first retry; doubles with each attempt. */
  jobRetryBaseDelayMs: number;
  /** How often the retention policy is applied: restore tests due, expired backups to delete. */
  restoreTestCheckIntervalMs: number;
}

export const DEFAULT_ORCHESTRATION_SETTINGS: OrchestrationSettings = {
  jobHeartbeatTimeoutMs: 60_000,
  jobSupervisionIntervalMs: 5_000,
  jobMaxAttempts: 3,
  jobRetryBaseDelayMs: 1_000,
  restoreTestCheckIntervalMs: 60 * 60 * 1000,
};
