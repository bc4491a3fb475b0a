import type { BackupStatus } from './backup';
import { Decider } from './decider';
import { DomainError, invalidTransition } from './domain-error';
import { EventOf, FailureData, failureOf } from './events';

export type RestoreEvent = EventOf<'RestoreRequested'> | EventOf<'RestoreStarted'> | EventOf<'RestoreCompleted'> | EventOf<'RestoreFailed'>;

export const RESTORE_STATUSES = ['requested', 'running', 'completed', 'failed'] as const;
export type RestoreStatus = (typeof RESTORE_STATUSES)[number];

/** What the restore decision needs to know about the backup it restores. */
export interface RestorableBackup {
  status: 'none' | BackupStatus;
  sourceId?: string;
  snapshotId?: string | null;
}

export type RestoreCommand =
  | {
      type: 'RequestRestore';
      restoreId: string;
      backupId: string;
      backup: RestorableBackup;
      target: string;
      include: string[];
      purpose: string;
      /** A subject access request: restore only this subject's files (its pseudonym). */
      subject?: string;
      at: string;
    }
  | { type: 'StartRestore'; restoreId: string; jobId: string; attempt: number; at: string }
  /** Carries exactly what RestoreCompleted records. */
  | ({ type: 'CompleteRestore' } & EventOf<'RestoreCompleted'>['data'])
  | ({ type: 'FailRestore'; restoreId: string; jobId: string | null; at: string } & FailureData);

export type RestoreState =
  { status: 'none' } | { status: RestoreStatus; restoreId: string; backupId: string; jobId: string | null; attempt: number };

/** A restore of one completed backup into a target folder, for a stated purpose. */
export const restoreDecider: Decider<RestoreCommand, RestoreState, RestoreEvent> = {
  initialState: { status: 'none' },

  decide(command, state) {
    const { restoreId, at } = command;
    if (command.type === 'RequestRestore') {
      if (state.status !== 'none') throw new DomainError('ALREADY_EXISTS', `restore ${restoreId} already exists`);
      const { backup } = command;
      if (backup.status === 'none') throw new DomainError('NOT_FOUND', `backup ${command.backupId} does not exist`);
      if (backup.status !== 'completed' || !backup.snapshotId || !backup.sourceId) {
        throw invalidTransition(`backup ${command.backupId} is ${backup.status}; only a completed backup can be restored`);
      }
      return [
        {
          type: 'RestoreRequested',
          data: {
            restoreId,
            backupId: command.backupId,
            sourceId: backup.sourceId,
            snapshotId: backup.snapshotId,
            target: command.target,
            include: command.include,
            purpose: command.purpose,
            ...(command.subject !== undefined && { subject: command.subject }),
            at,
          },
        },
      ];
    }
    if (state.status === 'none') throw new DomainError('NOT_FOUND', `restore ${restoreId} does not exist`);
    const open = state.status === 'requested' || state.status === 'running';
    switch (command.type) {
      case 'StartRestore':
        if (!open) throw invalidTransition(`restore ${restoreId} is ${state.status} and cannot start`);
        if (state.jobId === command.jobId && state.attempt >= command.attempt) return [];
        return [{ type: 'RestoreStarted', data: { restoreId, jobId: command.jobId, attempt: command.attempt, at } }];
      case 'CompleteRestore':
        if (!open) throw invalidTransition(`restore ${restoreId} is ${state.status} and cannot complete`);
        return [
          {
            type: 'RestoreCompleted',
            data: {
              restoreId,
              jobId: command.jobId,
              files: command.files,
              bytes: command.bytes,
              ...(command.skippedErased && command.skippedErased.files > 0 && { skippedErased: command.skippedErased }),
              at,
            },
          },
        ];
      case 'FailRestore':
        if (!open) throw invalidTransition(`restore ${restoreId} is ${state.status} and cannot fail`);
        return [
          {
            type: 'RestoreFailed',
            data: { restoreId, jobId: command.jobId, ...failureOf(command), at },
          },
        ];
    }
  },

  evolve(state, event) {
    switch (event.type) {
      case 'RestoreRequested':
        return { status: 'requested', restoreId: event.data.restoreId, backupId: event.data.backupId, jobId: null, attempt: 0 };
      case 'RestoreStarted':
        return state.status === 'none' ? state : { ...state, status: 'running', jobId: event.data.jobId, attempt: event.data.attempt };
      case 'RestoreCompleted':
        return state.status === 'none' ? state : { ...state, status: 'completed' };
      case 'RestoreFailed':
        return state.status === 'none' ? state : { ...state, status: 'failed' };
    }
  },
};
