/**
 * The retention policy for backups of personal data: a backup stays active (restorable on
 * demand) for `activeDays` after it completed, is then archived for `archivedDays`, and then has
 * expired, and is deleted when `deleteExpired` (false keeps expired backups, e.g. under a legal
 * hold); the newest backup of each source gets a restore test every `restoreTestIntervalDays`
 * (0: never). The defaults are Custodia's policy: 30 days active, one year archived, then
 * deleted, weekly restore tests.
 */
export interface RetentionPolicy {
  activeDays: number;
  archivedDays: number;
  restoreTestIntervalDays: number;
  deleteExpired: boolean;
}

export const DEFAULT_RETENTION_POLICY: RetentionPolicy = {
  activeDays: 30,
  archivedDays: 365,
  restoreTestIntervalDays: 7,
  deleteExpired: true,
};

export type RetentionPhase = 'active' | 'archived' | 'expired';

export interface RetentionStatus {
  phase: RetentionPhase;
  activeUntil: string;
  archivedUntil: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** Where a backup completed at `completedAt` stands at `now` under `policy`. */
export function retentionStatus(completedAt: string, now: Date, policy: RetentionPolicy): RetentionStatus {
  const completed = Date.parse(completedAt);
  const activeUntil = completed + policy.activeDays * DAY_MS;
  const archivedUntil = activeUntil + policy.archivedDays * DAY_MS;
  const at = now.getTime();
  return {
    phase: at < activeUntil ? 'active' : at < archivedUntil ? 'archived' : 'expired',
    activeUntil: new Date(activeUntil).toISOString(),
    archivedUntil: new Date(archivedUntil).toISOString(),
  };
}

/**
 * The same phases as completion-time boundaries at `now`, for filtering stored backups: a backup
 * is active if it completed after `activeSince`, archived if after `archivedSince`, else expired.
 */
export function retentionCutoffs(now: Date, policy: RetentionPolicy): { activeSince: string; archivedSince: string } {
  const at = now.getTime();
  return {
    activeSince: new Date(at - policy.activeDays * DAY_MS).toISOString(),
    archivedSince: new Date(at - (policy.activeDays + policy.archivedDays) * DAY_MS).toISOString(),
  };
}

/** Whether a backup last verified at `verifiedAt` (null: never) is due for a restore test at `now`. */
export function restoreTestDue(verifiedAt: string | null, now: Date, policy: RetentionPolicy): boolean {
  if (policy.restoreTestIntervalDays <= 0) return false;
  return verifiedAt === null || now.getTime() - Date.parse(verifiedAt) >= policy.restoreTestIntervalDays * DAY_MS;
}
