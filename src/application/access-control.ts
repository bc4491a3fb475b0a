/**
 * Who may do what through the API. A caller authenticates with a token that names one actor and
 * one role (README, "Authentication"); each API operation needs one permission, and a role is
 * the set of permissions below. Separation of duties: operators run the backups but neither read
 * the audit trail nor touch data subjects; a DPO answers subjects' requests and reads the audit
 * trail; an auditor only reads (the catalog, the audit trail and erasures' status).
 */
import { DomainError } from '../domain';

export const ROLES = ['operator', 'dpo', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

export type Permission =
  /** Sources, the catalog, restores, retention, projections and records of processing. */
  | 'catalog:read'
  | 'sources:manage'
  /** Request, cancel, verify and delete backups. */
  | 'backups:manage'
  /** Restore a whole backup. */
  | 'restores:request'
  /** Art. 15: look a data subject up, and restore only that subject's files. */
  | 'subjects:access'
  /** Art. 17. */
  | 'erasures:request'
  /**
   * An erasure's status (GET /erasures/:id): pseudonym, counts, legal basis and times, no personal
   * data. The DPO who asked follows it; an auditor checks it against the audit trail.
   */
  | 'erasures:read'
  /**
   * What a backup skipped or found changing (GET /backups/:id/errors): the paths are the
   * source's file names, which can name people, so each read is audited. Operators fix what
   * could not be read; a DPO answers for what a backup left out. Auditors read the trail, not
   * file names.
   */
  | 'backups:errors:read'
  | 'audit:read';

const GRANTS: Record<Role, readonly Permission[]> = {
  operator: ['catalog:read', 'sources:manage', 'backups:manage', 'restores:request', 'backups:errors:read'],
  dpo: ['catalog:read', 'subjects:access', 'erasures:request', 'erasures:read', 'backups:errors:read', 'audit:read'],
  auditor: ['catalog:read', 'erasures:read', 'audit:read'],
};

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

export function grants(role: Role, permission: Permission): boolean {
  return GRANTS[role].includes(permission);
}

/**
 * For an operation whose permission depends on its input (a restore of one data subject's files
 * is an access request): refuses a caller whose role lacks it. Without tokens there is no role.
 */
export function assertRoleGrants(role: Role | undefined, permission: Permission): void {
  if (role !== undefined && !grants(role, permission)) {
    throw new DomainError('FORBIDDEN', `the role ${role} may not do this (it needs ${permission})`);
  }
}
