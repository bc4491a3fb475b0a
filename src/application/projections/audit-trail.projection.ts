import { Transaction } from 'kysely';
import { AuditOutcome, AuditTargetType, DeletionReason, DomainEvent } from '../../domain';
import { toDomainEvent } from '../event-envelope';
import { RecordedEvent } from '../ports/event-store';
import { AuditEntryFields, canonicalJson, GENESIS_HASH, hashAuditEntry } from './audit-chain';
import { Projection } from './projection';
import { ReadModelDatabase } from './read-model';

/** What an event means for the audit trail, before it gets its place in the chain. */
export interface AuditFacts {
  action: string;
  targetType: AuditTargetType;
  targetId: string;
  /** 'accepted': work was requested; 'completed' / 'failed': how it (or an immediate change) ended. */
  outcome: AuditOutcome;
  purpose?: string;
  /** The data subject concerned, as a pseudonym (erasures, key operations, access requests). */
  subject?: string;
  /** Ids, counts and codes only. Never a name, path, target, include list or free-text reason. */
  details?: Record<string, string | number | boolean | string[]>;
}

/**
 * The audited events: every command outcome. BackupStarted and RestoreStarted are left out: they
 * are progress reports of the worker, not decisions about personal data.
 */
export function auditFacts(event: DomainEvent): AuditFacts | null {
  switch (event.type) {
    case 'SourceRegistered':
      return { action: 'source.registered', targetType: 'source', targetId: event.data.sourceId, outcome: 'completed' };
    case 'SourceUpdated': {
      // Which fields changed, not their values: a folder's name can identify a person.
      const fields = (['name', 'path', 'subjectRules', 'dataCategories', 'purposes'] as const).filter(
        (field) => event.data[field] !== undefined,
      );
      return { action: 'source.updated', targetType: 'source', targetId: event.data.sourceId, outcome: 'completed', details: { fields } };
    }
    case 'SourceRemoved':
      return { action: 'source.removed', targetType: 'source', targetId: event.data.sourceId, outcome: 'completed' };
    case 'BackupRequested':
      return {
        action: 'backup.requested',
        ...backup(event.data.backupId),
        outcome: 'accepted',
        details: { sourceId: event.data.sourceId, backupType: event.data.backupType },
      };
    case 'BackupCancelled':
      // The reason is free text an operator typed; it stays in the event log only.
      return { action: 'backup.cancelled', ...backup(event.data.backupId), outcome: 'completed' };
    case 'BackupVerificationRequested':
      return {
        action: 'backup.verification-requested',
        ...backup(event.data.backupId),
        outcome: 'accepted',
        details: { verificationId: event.data.verificationId },
      };
    case 'BackupCompleted': {
      const { files, directories, totalBytes, errors } = event.data.statistics;
      return {
        action: 'backup.completed',
        ...backup(event.data.backupId),
        outcome: 'completed',
        details: { snapshotId: event.data.snapshotId, files, directories, totalBytes, errors },
      };
    }
    case 'BackupProblemsRead':
      // A read of paths that can name people: who read which backup's list, never the paths.
      return {
        action: 'backup.problems-read',
        ...backup(event.data.backupId),
        outcome: 'completed',
        details: { readId: event.data.readId, snapshotId: event.data.snapshotId },
      };
    case 'BackupFailed':
      // The code, not the reason: a reason may quote the path that could not be read.
      return { action: 'backup.failed', ...backup(event.data.backupId), outcome: 'failed', details: failure(event.data) };
    case 'BackupVerified':
      return {
        action: 'backup.verified',
        ...backup(event.data.backupId),
        outcome: 'completed',
        details: {
          verificationId: event.data.verificationId,
          blobsChecked: event.data.blobsChecked,
          bytesChecked: event.data.bytesChecked,
        },
      };
    case 'BackupVerificationFailed':
      return {
        action: 'backup.verification-failed',
        ...backup(event.data.backupId),
        outcome: 'failed',
        details: { verificationId: event.data.verificationId, ...failure(event.data) },
      };
    case 'BackupDeletionRequested':
      return {
        action: 'backup.deletion-requested',
        ...backup(event.data.backupId),
        outcome: 'accepted',
        purpose: DELETION_PURPOSE[event.data.reason],
        details: { deletionId: event.data.deletionId, snapshotId: event.data.snapshotId, reason: event.data.reason },
      };
    case 'BackupDeleted':
      return {
        action: 'backup.deleted',
        ...backup(event.data.backupId),
        outcome: 'completed',
        details: { deletionId: event.data.deletionId, pruned: event.data.prune !== null, ...(event.data.prune ?? {}) },
      };
    case 'BackupDeletionFailed':
      return {
        action: 'backup.deletion-failed',
        ...backup(event.data.backupId),
        outcome: 'failed',
        details: { deletionId: event.data.deletionId, ...failure(event.data) },
      };
    case 'RestoreRequested':
      // A restore is an access to the backed-up personal data: its purpose is the legal basis.
      return {
        action: 'restore.requested',
        ...restore(event.data.restoreId),
        outcome: 'accepted',
        purpose: event.data.purpose,
        ...(event.data.subject !== undefined && { subject: event.data.subject }),
        details: {
          backupId: event.data.backupId,
          sourceId: event.data.sourceId,
          snapshotId: event.data.snapshotId,
          includeCount: event.data.include.length,
          ...(event.data.subject !== undefined && { subjectAccess: true }),
        },
      };
    case 'RestoreCompleted':
      return {
        action: 'restore.completed',
        ...restore(event.data.restoreId),
        outcome: 'completed',
        details: { files: event.data.files, bytes: event.data.bytes },
      };
    case 'RestoreFailed':
      return { action: 'restore.failed', ...restore(event.data.restoreId), outcome: 'failed', details: failure(event.data) };
    case 'SubjectDataLookedUp':
      return {
        action: 'subject.looked-up',
        ...aboutSubject('subject', event.data.subject),
        outcome: 'completed',
        purpose: event.data.purpose,
        details: { lookupId: event.data.lookupId },
      };
    case 'ErasureRequested':
      // The legal basis is the purpose of this processing; requestedBy names a role or staff id.
      return {
        action: 'erasure.requested',
        ...erasure(event.data.erasureId, event.data.subject),
        outcome: 'accepted',
        purpose: event.data.legalBasis,
        details: { requestedBy: event.data.requestedBy },
      };
    case 'SubjectKeyShredded':
      return {
        action: 'subject-key.shredded',
        ...aboutSubject('subject-key', event.data.subject),
        outcome: 'completed',
        details: {
          erasureId: event.data.erasureId,
          keysShredded: event.data.keysShredded,
          // Whether the unreadable blobs were also deleted at once (else at a later prune).
          ...(event.data.prune !== undefined && { pruned: event.data.prune !== null }),
          ...(event.data.prune && { erasedBlobsRemoved: event.data.prune.erasedBlobsRemoved }),
        },
      };
    case 'ErasureCompleted':
      return { action: 'erasure.completed', ...erasure(event.data.erasureId, event.data.subject), outcome: 'completed' };
    case 'ErasureFailed':
      return {
        action: 'erasure.failed',
        ...erasure(event.data.erasureId, event.data.subject),
        outcome: 'failed',
        details: failure(event.data),
      };
    // How a job got to its outcome: which worker took each attempt, time-outs, retries. Operated
    // by the system (actor system:jobs), they show who held the data at each step.
    case 'JobAttemptStarted':
      return {
        action: 'job.attempt-started',
        ...job(event.data),
        outcome: 'accepted',
        details: { ...jobDetails(event.data), ...(event.data.worker !== null && { worker: event.data.worker }) },
      };
    case 'JobAttemptEnded':
      return {
        action: `job.attempt-${event.data.outcome}`,
        ...job(event.data),
        outcome: 'failed',
        details: { ...jobDetails(event.data), code: event.data.code, retryable: event.data.retryable },
      };
    case 'JobRedispatched':
      return {
        action: 'job.redispatched',
        ...job(event.data),
        outcome: 'accepted',
        details: { ...jobDetails(event.data), delayMs: event.data.delayMs },
      };
    default:
      return null;
  }
}

const job = (data: { jobId: string }) => ({ targetType: 'job' as const, targetId: data.jobId });
const jobDetails = (data: { kind: string; aggregateId: string; attempt: number }) => ({
  kind: data.kind,
  aggregateId: data.aggregateId,
  attempt: data.attempt,
});

/**
 * Entries that follow an event's main one: a backup that created data subjects' keys records
 * one key operation per key, so the trail shows when each subject's key came into being.
 */
export function followingAuditFacts(event: DomainEvent): AuditFacts[] {
  if (event.type !== 'BackupCompleted') return [];
  return (event.data.subjects ?? [])
    .filter((held) => held.keyCreated)
    .map((held) => ({
      action: 'subject-key.created',
      ...aboutSubject('subject-key', held.subject),
      outcome: 'completed' as const,
      details: { backupId: event.data.backupId, snapshotId: event.data.snapshotId },
    }));
}

const backup = (id: string) => ({ targetType: 'backup' as const, targetId: id });
const restore = (id: string) => ({ targetType: 'restore' as const, targetId: id });
const erasure = (id: string, subject: string) => ({ targetType: 'erasure' as const, targetId: id, subject });
/** Entries whose target is the data subject itself (by pseudonym), or its keys. */
const aboutSubject = (targetType: Extract<AuditTargetType, 'subject' | 'subject-key'>, pseudonym: string) => ({
  targetType,
  targetId: pseudonym,
  subject: pseudonym,
});
const failure = (data: { code: string; retryable: boolean }) => ({ code: data.code, retryable: data.retryable });

const DELETION_PURPOSE: Record<DeletionReason, string> = {
  retention: 'storage limitation (GDPR Art. 5(1)(e)): retention policy',
  operator: 'operator request',
  discard: 'storage limitation (GDPR Art. 5(1)(e)): snapshot written after its backup was cancelled or had failed',
};

/** A role named in the metadata wins; otherwise process managers (`system:*`) are the system. */
export function roleOf(metadata: RecordedEvent['metadata']): string {
  const role = (metadata as { role?: unknown }).role;
  if (typeof role === 'string' && role !== '') return role;
  return metadata.actor.startsWith('system:') ? 'system' : 'operator';
}

/**
 * The audit trail. Each audited event appends one entry chained to the last one, read in the
 * same transaction that appends and advances the checkpoint: entries follow log order, and the
 * chain is a function of the log alone, so a rebuild reproduces it hash for hash.
 */
export class AuditTrailProjection implements Projection {
  readonly name = 'audit-trail';
  readonly tables: (keyof ReadModelDatabase)[] = ['audit_entries'];

  async apply(trx: Transaction<ReadModelDatabase>, recorded: RecordedEvent): Promise<void> {
    const event = toDomainEvent(recorded);
    const main = auditFacts(event);
    const entries = [...(main ? [main] : []), ...followingAuditFacts(event)];
    if (entries.length === 0) return;
    // Checkpoints already keep an event from being applied twice; this guards the chain anyway.
    const existing = await trx.selectFrom('audit_entries').select('sequence').where('event_id', '=', recorded.id).executeTakeFirst();
    if (existing) return;
    let last = await trx.selectFrom('audit_entries').select(['sequence', 'hash']).orderBy('sequence', 'desc').limit(1).executeTakeFirst();
    for (const [index, facts] of entries.entries()) {
      const entry: AuditEntryFields = {
        sequence: last ? Number(last.sequence) + 1 : 1,
        // The first entry of an event carries its id; the ones that follow it get #1, #2, ...
        event_id: index === 0 ? recorded.id : `${recorded.id}#${index}`,
        event_position: recorded.position,
        occurred_at: recorded.occurredAt,
        actor: recorded.metadata.actor,
        role: roleOf(recorded.metadata),
        action: facts.action,
        target_type: facts.targetType,
        target_id: facts.targetId,
        purpose: facts.purpose ?? null,
        outcome: facts.outcome,
        details: facts.details ? canonicalJson(facts.details) : null,
        correlation_id: recorded.metadata.correlationId,
        causation_id: recorded.metadata.causationId ?? null,
        subject_pseudonym: facts.subject ?? null,
        previous_hash: last ? last.hash : GENESIS_HASH,
      };
      const hash = hashAuditEntry(entry);
      await trx
        .insertInto('audit_entries')
        .values({ ...entry, hash })
        .execute();
      last = { sequence: entry.sequence, hash };
    }
  }
}
