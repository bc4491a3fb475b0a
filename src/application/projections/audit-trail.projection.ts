import { Transaction } from 'kysely';
import { DomainEvent } from '../../domain';
import { toDomainEvent } from '../event-envelope';
import { RecordedEvent } from '../ports/event-store';
import { AuditEntryFields, canonicalJson, GENESIS_HASH, hashAuditEntry } from './audit-chain';
import { Projection } from './projection';
import { ReadModelDatabase } from './read-model';

/** What an event means for the audit trail, before it gets its place in the chain. */
export interface AuditFacts {
  action: string;
  targetType: 'source' | 'backup' | 'restore';
  targetId: string;
  /** 'accepted': work was requested; 'completed' / 'failed': how it (or an immediate change) ended. */
  outcome: 'accepted' | 'completed' | 'failed';
  purpose?: string;
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
      const fields = (['name', 'path'] as const).filter((field) => event.data[field] !== undefined);
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
    case 'RestoreRequested':
      // A restore is an access to the backed-up personal data: its purpose is the legal basis.
      return {
        action: 'restore.requested',
        ...restore(event.data.restoreId),
        outcome: 'accepted',
        purpose: event.data.purpose,
        details: {
          backupId: event.data.backupId,
          sourceId: event.data.sourceId,
          snapshotId: event.data.snapshotId,
          includeCount: event.data.include.length,
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
    default:
      return null;
  }
}

const backup = (id: string) => ({ targetType: 'backup' as const, targetId: id });
const restore = (id: string) => ({ targetType: 'restore' as const, targetId: id });
const failure = (data: { code: string; retryable: boolean }) => ({ code: data.code, retryable: data.retryable });

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
    const facts = auditFacts(toDomainEvent(recorded));
    if (!facts) return;
    // Checkpoints already keep an event from being applied twice; this guards the chain anyway.
    const existing = await trx.selectFrom('audit_entries').select('sequence').where('event_id', '=', recorded.id).executeTakeFirst();
    if (existing) return;
    const last = await trx.selectFrom('audit_entries').select(['sequence', 'hash']).orderBy('sequence', 'desc').limit(1).executeTakeFirst();
    const entry: AuditEntryFields = {
      sequence: last ? Number(last.sequence) + 1 : 1,
      event_id: recorded.id,
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
      subject_pseudonym: null,
      previous_hash: last ? last.hash : GENESIS_HASH,
    };
    await trx
      .insertInto('audit_entries')
      .values({ ...entry, hash: hashAuditEntry(entry) })
      .execute();
  }
}
