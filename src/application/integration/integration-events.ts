import { DomainEvent } from '../../domain';
import { toDomainEvent } from '../event-envelope';
import { RecordedEvent } from '../ports/event-store';

/**
 * Integration events: the public, versioned contract other systems consume (docs/integration-events.md).
 * They are a deliberate subset of the domain events with stable field names, and they never carry
 * folder paths, restore targets or include paths: only ids, statuses, counts and hashes.
 */
export interface IntegrationEvent {
  /** Same as the domain event's id: consumers deduplicate on it (delivery is at least once). */
  id: string;
  type: string;
  schemaVersion: 1;
  occurredAt: string;
  /** Global position in Custodia's event log: a consumer can detect reordering. */
  position: number;
  correlationId: string;
  /** The backup or restore id; also the Kafka message key. */
  subject: string;
  data: Record<string, unknown>;
}

export const INTEGRATION_EVENT_TYPES = [
  'custodia.backup.requested',
  'custodia.backup.started',
  'custodia.backup.completed',
  'custodia.backup.failed',
  'custodia.backup.cancelled',
  'custodia.backup.verified',
  'custodia.backup.verification-failed',
  'custodia.restore.requested',
  'custodia.restore.completed',
  'custodia.restore.failed',
] as const;

const INVALID_RESTORE_REASON = 'the restore request does not fit the snapshot (an include path matches nothing in it)';

export function toIntegrationEvent(recorded: RecordedEvent): IntegrationEvent | null {
  const event: DomainEvent = toDomainEvent(recorded);
  const envelope = (type: string, subject: string, data: Record<string, unknown>): IntegrationEvent => ({
    id: recorded.id,
    type,
    schemaVersion: 1,
    occurredAt: recorded.occurredAt,
    position: recorded.position,
    correlationId: recorded.metadata.correlationId,
    subject,
    data,
  });
  switch (event.type) {
    case 'BackupRequested':
      return envelope('custodia.backup.requested', event.data.backupId, {
        backupId: event.data.backupId,
        sourceId: event.data.sourceId,
        backupType: event.data.backupType,
      });
    case 'BackupStarted':
      return envelope('custodia.backup.started', event.data.backupId, { backupId: event.data.backupId, attempt: event.data.attempt });
    case 'BackupCompleted':
      return envelope('custodia.backup.completed', event.data.backupId, {
        backupId: event.data.backupId,
        snapshotId: event.data.snapshotId,
        merkleRoot: event.data.merkleRoot,
        statistics: event.data.statistics,
      });
    case 'BackupFailed':
      return envelope('custodia.backup.failed', event.data.backupId, {
        backupId: event.data.backupId,
        code: event.data.code,
        reason: event.data.reason,
        retryable: event.data.retryable,
      });
    case 'BackupCancelled':
      return envelope('custodia.backup.cancelled', event.data.backupId, { backupId: event.data.backupId });
    case 'BackupVerified':
      return envelope('custodia.backup.verified', event.data.backupId, {
        backupId: event.data.backupId,
        verificationId: event.data.verificationId,
        blobsChecked: event.data.blobsChecked,
        bytesChecked: event.data.bytesChecked,
      });
    case 'BackupVerificationFailed':
      return envelope('custodia.backup.verification-failed', event.data.backupId, {
        backupId: event.data.backupId,
        verificationId: event.data.verificationId,
        code: event.data.code,
        reason: event.data.reason,
      });
    case 'BackupDeleted':
      // Systems that copied the backup's data can let their copies expire with it.
      return envelope('custodia.backup.deleted', event.data.backupId, { backupId: event.data.backupId, deletionId: event.data.deletionId });
    case 'RestoreRequested':
      return envelope('custodia.restore.requested', event.data.restoreId, {
        restoreId: event.data.restoreId,
        backupId: event.data.backupId,
        purpose: event.data.purpose,
      });
    case 'RestoreCompleted':
      return envelope('custodia.restore.completed', event.data.restoreId, {
        restoreId: event.data.restoreId,
        files: event.data.files,
        bytes: event.data.bytes,
      });
    case 'RestoreFailed':
      return envelope('custodia.restore.failed', event.data.restoreId, {
        restoreId: event.data.restoreId,
        code: event.data.code,
        // An INVALID_ARGUMENT reason quotes the restore's include paths, which stay out of integration events.
        reason: event.data.code === 'INVALID_ARGUMENT' ? INVALID_RESTORE_REASON : event.data.reason,
      });
    case 'ErasureCompleted':
      // Other systems holding the subject's data under the same pseudonym can erase theirs too.
      return envelope('custodia.erasure.completed', event.data.erasureId, { erasureId: event.data.erasureId, subject: event.data.subject });
    case 'ErasureFailed':
      return envelope('custodia.erasure.failed', event.data.erasureId, {
        erasureId: event.data.erasureId,
        subject: event.data.subject,
        code: event.data.code,
      });
    default:
      return null;
  }
}

/** Port: where integration events go (a Kafka topic in the distributed mode). */
export interface IntegrationEventPublisher {
  publish(events: IntegrationEvent[]): Promise<void>;
}
