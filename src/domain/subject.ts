import { Decider } from './decider';
import { DomainError, invalidTransition } from './domain-error';
import { EventOf, FailureData, PruneSummaryData, failureOf } from './events';

export type SubjectEvent =
  | EventOf<'ErasureRequested'>
  | EventOf<'SubjectKeyShredded'>
  | EventOf<'ErasureCompleted'>
  | EventOf<'ErasureFailed'>
  | EventOf<'SubjectDataLookedUp'>;

export type SubjectCommand =
  | { type: 'RequestErasure'; subject: string; erasureId: string; legalBasis: string; requestedBy: string; at: string }
  | {
      type: 'RecordKeyShredded';
      subject: string;
      erasureId: string;
      jobId: string;
      keysShredded: number;
      /** What the prune right after freed; null when it could not run then. */
      prune?: PruneSummaryData | null;
      at: string;
    }
  | ({ type: 'FailErasure'; subject: string; erasureId: string; jobId: string | null; at: string } & FailureData)
  | { type: 'RecordLookup'; subject: string; lookupId: string; purpose: string; at: string };

export const ERASURE_STATUSES = ['requested', 'completed', 'failed'] as const;
export type ErasureStatus = (typeof ERASURE_STATUSES)[number];

/**
 * What Custodia holds of a data subject, as an access request (Art. 15) answers it: `erased` once
 * an erasure completed and no later backup found the subject again; `active` if a backup holds
 * data of the subject; `erasure-requested` while an erasure runs; `unknown` otherwise.
 */
export const SUBJECT_STATUSES = ['active', 'erasure-requested', 'erased', 'unknown'] as const;
export type SubjectStatus = (typeof SUBJECT_STATUSES)[number];

/** The subject is known only by its pseudonym; the external id never reaches the domain. */
export type SubjectState =
  { status: 'none' } | { status: ErasureStatus; subject: string; erasureId: string; requestedAt: string; completedAt: string | null };

/**
 * A data subject, as far as erasure (GDPR Art. 17) goes. Erasing destroys the subject's keys,
 * which cannot be undone: once completed, a repeated request changes nothing and answers with
 * the erasure already done, and one in progress is not started twice. Only a failed erasure can
 * be requested again.
 */
export const subjectDecider: Decider<SubjectCommand, SubjectState, SubjectEvent> = {
  initialState: { status: 'none' },

  decide(command, state) {
    if (command.type === 'RecordLookup') {
      // Always recorded, whatever the subject's state: the record is of the access, not of data.
      const { subject, lookupId, purpose, at } = command;
      return [{ type: 'SubjectDataLookedUp', data: { lookupId, subject, purpose, at } }];
    }
    const { subject, erasureId, at } = command;
    if (command.type === 'RequestErasure') {
      if (state.status === 'requested' || state.status === 'completed') return [];
      if (command.legalBasis.trim() === '') throw new DomainError('INVALID_INPUT', 'legalBasis must not be empty');
      return [
        {
          type: 'ErasureRequested',
          data: { erasureId, subject, legalBasis: command.legalBasis, requestedBy: command.requestedBy, at },
        },
      ];
    }
    if (state.status === 'none' || state.erasureId !== erasureId) {
      throw new DomainError('NOT_FOUND', `erasure ${erasureId} does not exist`);
    }
    switch (command.type) {
      case 'RecordKeyShredded':
        if (state.status === 'completed') return [];
        if (state.status !== 'requested') throw invalidTransition(`erasure ${erasureId} is ${state.status}`);
        return [
          {
            type: 'SubjectKeyShredded',
            data: {
              erasureId,
              subject,
              jobId: command.jobId,
              keysShredded: command.keysShredded,
              ...(command.prune !== undefined && { prune: command.prune }),
              at,
            },
          },
          { type: 'ErasureCompleted', data: { erasureId, subject, at } },
        ];
      case 'FailErasure':
        if (state.status !== 'requested') throw invalidTransition(`erasure ${erasureId} is ${state.status} and cannot fail`);
        return [
          {
            type: 'ErasureFailed',
            data: {
              erasureId,
              subject,
              jobId: command.jobId,
              ...failureOf(command),
              at,
            },
          },
        ];
    }
  },

  evolve(state, event) {
    switch (event.type) {
      case 'ErasureRequested':
        return {
          status: 'requested',
          subject: event.data.subject,
          erasureId: event.data.erasureId,
          requestedAt: event.data.at,
          completedAt: null,
        };
      case 'SubjectKeyShredded':
        return state;
      case 'ErasureCompleted':
        return state.status === 'none' ? state : { ...state, status: 'completed', completedAt: event.data.at };
      case 'ErasureFailed':
        return state.status === 'none' ? state : { ...state, status: 'failed' };
      case 'SubjectDataLookedUp':
        return state;
    }
  },
};
