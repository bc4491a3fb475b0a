import { Decider } from './decider';
import { DomainError, invalidTransition } from './domain-error';
import { BackupType, DeletionReason, EventOf, FailureData, PruneSummaryData, failureOf } from './events';

export type BackupEvent =
  | EventOf<'BackupRequested'>
  | EventOf<'BackupStarted'>
  | EventOf<'BackupCompleted'>
  | EventOf<'BackupFailed'>
  | EventOf<'BackupProblemsRead'>
  | EventOf<'BackupCancelled'>
  | EventOf<'BackupVerificationRequested'>
  | EventOf<'BackupVerified'>
  | EventOf<'BackupVerificationFailed'>
  | EventOf<'BackupDeletionRequested'>
  | EventOf<'BackupDeleted'>
  | EventOf<'BackupDeletionFailed'>;

/** deleting: its deletion was decided and a worker is removing the snapshot; deleted: gone. */
/** A backup's status, as the decider and the catalog know it (the one list the APIs validate against). */
export const BACKUP_STATUSES = ['requested', 'running', 'completed', 'failed', 'cancelled', 'deleting', 'deleted'] as const;
export type BackupStatus = (typeof BACKUP_STATUSES)[number];
/** Where a backup's verification stands: never asked (`none`), asked, or its outcome. */
export const VERIFICATION_STATUSES = ['none', 'requested', 'verified', 'failed'] as const;
export type VerificationStatus = (typeof VERIFICATION_STATUSES)[number];

export type BackupCommand =
  | { type: 'RequestBackup'; backupId: string; sourceId: string; backupType: BackupType; sourceActive: boolean; at: string }
  | { type: 'StartBackup'; backupId: string; jobId: string; attempt: number; at: string }
  /** Carries exactly what BackupCompleted records. */
  | ({ type: 'CompleteBackup' } & EventOf<'BackupCompleted'>['data'])
  | ({ type: 'FailBackup'; backupId: string; jobId: string | null; at: string } & FailureData)
  | { type: 'CancelBackup'; backupId: string; reason: string; at: string }
  /** A read of the backup's problem list, recorded before the list is given (an access). */
  | { type: 'RecordProblemsRead'; backupId: string; readId: string; at: string }
  | { type: 'VerifyBackup'; backupId: string; verificationId: string; at: string }
  | {
      type: 'RecordVerification';
      backupId: string;
      verificationId: string;
      outcome: 'verified';
      blobsChecked: number;
      bytesChecked: number;
      at: string;
    }
  | ({ type: 'RecordVerification'; backupId: string; verificationId: string; outcome: 'failed'; at: string } & FailureData)
  | { type: 'DeleteBackup'; backupId: string; deletionId: string; reason: Exclude<DeletionReason, 'discard'>; at: string }
  /** A worker reported a snapshot for a backup that had ended without it: delete that snapshot. */
  | { type: 'DiscardSnapshot'; backupId: string; deletionId: string; snapshotId: string; at: string }
  | { type: 'RecordBackupDeleted'; backupId: string; deletionId: string; jobId: string; prune: PruneSummaryData | null; at: string }
  | ({ type: 'FailBackupDeletion'; backupId: string; deletionId: string; jobId: string | null; at: string } & FailureData);

export type BackupState =
  | { status: 'none' }
  | {
      status: BackupStatus;
      backupId: string;
      sourceId: string;
      backupType: BackupType;
      jobId: string | null;
      attempt: number;
      snapshotId: string | null;
      merkleRoot: string | null;
      verification: VerificationStatus;
      pendingVerification: string | null;
      pendingDeletion: string | null;
      /** Deletions of late snapshots (reason discard) requested and not failed, so a repeat asks nothing new. */
      discards: string[];
      /** Those of them still running: several late snapshots can be discarded at once. */
      pendingDiscards: string[];
    };

type Existing = Exclude<BackupState, { status: 'none' }>;

/**
 * A backup's life: requested -> running -> completed | failed, or cancelled before it ends.
 * Only a completed backup can be verified or restored. Attempts after a retry are new
 * BackupStarted events with a higher attempt number. A completed backup is deleted (retention,
 * or an operator) through deleting -> deleted; a failed deletion leaves it completed. A snapshot a
 * worker reports after the backup was cancelled or failed is discarded the same way, without
 * changing the backup's status.
 */
export const backupDecider: Decider<BackupCommand, BackupState, BackupEvent> = {
  initialState: { status: 'none' },

  decide(command, state) {
    const { backupId, at } = command;
    if (command.type === 'RequestBackup') {
      if (state.status !== 'none') throw new DomainError('ALREADY_EXISTS', `backup ${backupId} already exists`);
      if (!command.sourceActive) throw invalidTransition(`source ${command.sourceId} is not active`);
      return [{ type: 'BackupRequested', data: { backupId, sourceId: command.sourceId, backupType: command.backupType, at } }];
    }
    const backup = requireBackup(state, backupId);
    switch (command.type) {
      case 'StartBackup':
        if (backup.status !== 'requested' && backup.status !== 'running')
          throw invalidTransition(`backup ${backupId} is ${backup.status} and cannot start`);
        if (backup.jobId === command.jobId && backup.attempt >= command.attempt) return [];
        return [{ type: 'BackupStarted', data: { backupId, jobId: command.jobId, attempt: command.attempt, at } }];
      case 'CompleteBackup':
        if (backup.status !== 'requested' && backup.status !== 'running')
          throw invalidTransition(`backup ${backupId} is ${backup.status} and cannot complete`);
        return [
          {
            type: 'BackupCompleted',
            data: {
              backupId,
              jobId: command.jobId,
              snapshotId: command.snapshotId,
              merkleRoot: command.merkleRoot,
              statistics: command.statistics,
              ...(command.subjects && { subjects: command.subjects }),
              at,
            },
          },
        ];
      case 'FailBackup':
        if (backup.status !== 'requested' && backup.status !== 'running')
          throw invalidTransition(`backup ${backupId} is ${backup.status} and cannot fail`);
        return [
          {
            type: 'BackupFailed',
            data: { backupId, jobId: command.jobId, ...failureOf(command), at },
          },
        ];
      case 'CancelBackup':
        if (backup.status !== 'requested' && backup.status !== 'running')
          throw invalidTransition(`backup ${backupId} is ${backup.status} and cannot be cancelled`);
        return [{ type: 'BackupCancelled', data: { backupId, reason: command.reason, at } }];
      case 'RecordProblemsRead':
        // Only a completed backup's snapshot is sure to be there (a deleting one's is going).
        if (backup.status !== 'completed' || backup.snapshotId === null) {
          throw new DomainError('NO_SNAPSHOT', `backup ${backupId} is ${backup.status} and has no snapshot to read`);
        }
        return [{ type: 'BackupProblemsRead', data: { backupId, readId: command.readId, snapshotId: backup.snapshotId, at } }];
      case 'VerifyBackup':
        if (backup.status !== 'completed')
          throw invalidTransition(`backup ${backupId} is ${backup.status}; only a completed backup can be verified`);
        if (backup.pendingVerification) throw invalidTransition(`backup ${backupId} is already being verified`);
        return [{ type: 'BackupVerificationRequested', data: { backupId, verificationId: command.verificationId, at } }];
      case 'RecordVerification':
        if (backup.pendingVerification !== command.verificationId)
          throw invalidTransition(`verification ${command.verificationId} of backup ${backupId} is not pending`);
        return command.outcome === 'verified'
          ? [
              {
                type: 'BackupVerified',
                data: {
                  backupId,
                  verificationId: command.verificationId,
                  blobsChecked: command.blobsChecked,
                  bytesChecked: command.bytesChecked,
                  at,
                },
              },
            ]
          : [
              {
                type: 'BackupVerificationFailed',
                data: {
                  backupId,
                  verificationId: command.verificationId,
                  ...failureOf(command),
                  at,
                },
              },
            ];
      case 'DeleteBackup':
        if (backup.status !== 'completed')
          throw invalidTransition(`backup ${backupId} is ${backup.status}; only a completed backup can be deleted`);
        if (backup.pendingVerification) throw invalidTransition(`backup ${backupId} is being verified; delete it afterwards`);
        return [
          {
            type: 'BackupDeletionRequested',
            data: { backupId, deletionId: command.deletionId, snapshotId: backup.snapshotId ?? '', reason: command.reason, at },
          },
        ];
      case 'DiscardSnapshot':
        if (backup.discards.includes(command.deletionId)) return [];
        if (backup.status !== 'cancelled' && backup.status !== 'failed')
          throw invalidTransition(`backup ${backupId} is ${backup.status}; only the snapshot of a cancelled or failed backup is discarded`);
        return [
          {
            type: 'BackupDeletionRequested',
            data: { backupId, deletionId: command.deletionId, snapshotId: command.snapshotId, reason: 'discard', at },
          },
        ];
      case 'RecordBackupDeleted':
        if (!isDeletionPending(backup, command.deletionId))
          throw invalidTransition(`deletion ${command.deletionId} of backup ${backupId} is not pending`);
        return [
          { type: 'BackupDeleted', data: { backupId, deletionId: command.deletionId, jobId: command.jobId, prune: command.prune, at } },
        ];
      case 'FailBackupDeletion':
        if (!isDeletionPending(backup, command.deletionId))
          throw invalidTransition(`deletion ${command.deletionId} of backup ${backupId} is not pending`);
        return [
          {
            type: 'BackupDeletionFailed',
            data: {
              backupId,
              deletionId: command.deletionId,
              jobId: command.jobId,
              ...failureOf(command),
              at,
            },
          },
        ];
    }
  },

  evolve(state, event) {
    if (event.type === 'BackupRequested') {
      return {
        status: 'requested',
        backupId: event.data.backupId,
        sourceId: event.data.sourceId,
        backupType: event.data.backupType,
        jobId: null,
        attempt: 0,
        snapshotId: null,
        merkleRoot: null,
        verification: 'none',
        pendingVerification: null,
        pendingDeletion: null,
        discards: [],
        pendingDiscards: [],
      };
    }
    if (state.status === 'none') return state;
    switch (event.type) {
      case 'BackupStarted':
        return { ...state, status: 'running', jobId: event.data.jobId, attempt: event.data.attempt };
      case 'BackupCompleted':
        return {
          ...state,
          status: 'completed',
          jobId: event.data.jobId,
          snapshotId: event.data.snapshotId,
          merkleRoot: event.data.merkleRoot,
        };
      case 'BackupFailed':
        return { ...state, status: 'failed' };
      case 'BackupProblemsRead':
        return state;
      case 'BackupCancelled':
        return { ...state, status: 'cancelled' };
      case 'BackupVerificationRequested':
        return { ...state, verification: 'requested', pendingVerification: event.data.verificationId };
      case 'BackupVerified':
        return { ...state, verification: 'verified', pendingVerification: null };
      case 'BackupVerificationFailed':
        return { ...state, verification: 'failed', pendingVerification: null };
      case 'BackupDeletionRequested': {
        const { deletionId } = event.data;
        // Discarding a late snapshot leaves a cancelled or failed backup as it is.
        if (event.data.reason === 'discard') {
          return { ...state, discards: [...state.discards, deletionId], pendingDiscards: [...state.pendingDiscards, deletionId] };
        }
        return { ...state, status: 'deleting', pendingDeletion: deletionId };
      }
      case 'BackupDeleted': {
        const { deletionId } = event.data;
        if (state.pendingDiscards.includes(deletionId)) {
          return { ...state, pendingDiscards: state.pendingDiscards.filter((id) => id !== deletionId) };
        }
        return { ...state, status: 'deleted', pendingDeletion: null };
      }
      case 'BackupDeletionFailed': {
        const { deletionId } = event.data;
        // A failed discard is forgotten, so that the same late snapshot reported again is retried.
        if (state.pendingDiscards.includes(deletionId)) {
          const others = (ids: string[]) => ids.filter((id) => id !== deletionId);
          return { ...state, discards: others(state.discards), pendingDiscards: others(state.pendingDiscards) };
        }
        return { ...state, status: 'completed', pendingDeletion: null };
      }
    }
  },
};

function requireBackup(state: BackupState, backupId: string): Existing {
  if (state.status === 'none') throw new DomainError('NOT_FOUND', `backup ${backupId} does not exist`);
  return state;
}

/** Whether a deletion (of the backup, or a discard of a late snapshot) is still running. */
export function isDeletionPending(state: BackupState, deletionId: string): boolean {
  return state.status !== 'none' && (state.pendingDeletion === deletionId || state.pendingDiscards.includes(deletionId));
}

export function isFinal(status: BackupStatus): boolean {
  return status === 'completed' || status === 'failed' || status === 'cancelled' || status === 'deleted';
}
