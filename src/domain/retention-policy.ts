/**
 * The retention policy Custodia states for backups of personal data: a backup stays active
 * (restorable on demand) for 30 days, is then archived for a year, then purged; a restore test
 * runs weekly. The figures are what the record of processing (Art. 30) declares.
 */
export const DEFAULT_RETENTION_POLICY = {
  activeDays: 30,
  archivedDays: 365,
  restoreTestIntervalDays: 7,
} as const;
