/**
 * The value sets of the audit trail's entries. The trail is a projection, but what an entry can
 * say is fixed here, so that the projection, the read views and both APIs name the same values.
 */

/** 'accepted': work was requested; 'completed' / 'failed': how it (or an immediate change) ended. */
export const AUDIT_OUTCOMES = ['accepted', 'completed', 'failed'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/** What an entry is about: a source, a backup, a restore, an erasure, a data subject's key, the subject, or a job's attempts. */
export const AUDIT_TARGET_TYPES = ['source', 'backup', 'restore', 'erasure', 'subject-key', 'subject', 'job'] as const;
export type AuditTargetType = (typeof AUDIT_TARGET_TYPES)[number];
