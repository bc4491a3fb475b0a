import { Decider } from './decider';
import { DomainError, invalidTransition } from './domain-error';
import { EventOf } from './events';

export type SourceEvent = EventOf<'SourceRegistered'> | EventOf<'SourceUpdated'> | EventOf<'SourceRemoved'>;

export type SourceCommand =
  | { type: 'RegisterSource'; sourceId: string; name: string; path: string; subjectRules?: string[]; at: string }
  | { type: 'UpdateSource'; sourceId: string; name?: string; path?: string; subjectRules?: string[]; at: string }
  | { type: 'RemoveSource'; sourceId: string; at: string };

export type SourceState =
  { status: 'none' } | { status: 'active' | 'removed'; sourceId: string; name: string; path: string; subjectRules: string[] };

/** A source is a folder registered for backup. Removing it keeps its backups (retention decides). */
export const sourceDecider: Decider<SourceCommand, SourceState, SourceEvent> = {
  initialState: { status: 'none' },

  decide(command, state) {
    switch (command.type) {
      case 'RegisterSource':
        if (state.status !== 'none') throw new DomainError('ALREADY_EXISTS', `source ${command.sourceId} already exists`);
        assertPath(command.path);
        return [
          {
            type: 'SourceRegistered',
            data: {
              sourceId: command.sourceId,
              name: command.name,
              path: command.path,
              ...(command.subjectRules?.length && { subjectRules: command.subjectRules }),
              at: command.at,
            },
          },
        ];
      case 'UpdateSource': {
        const active = requireActive(state, command.sourceId);
        if (command.path !== undefined) assertPath(command.path);
        const name = command.name !== undefined && command.name !== active.name ? command.name : undefined;
        const path = command.path !== undefined && command.path !== active.path ? command.path : undefined;
        const rules = command.subjectRules;
        const subjectRules = rules !== undefined && rules.join('\n') !== active.subjectRules.join('\n') ? rules : undefined;
        if (name === undefined && path === undefined && subjectRules === undefined) return [];
        return [
          {
            type: 'SourceUpdated',
            data: {
              sourceId: command.sourceId,
              ...(name !== undefined && { name }),
              ...(path !== undefined && { path }),
              ...(subjectRules !== undefined && { subjectRules }),
              at: command.at,
            },
          },
        ];
      }
      case 'RemoveSource':
        requireActive(state, command.sourceId);
        return [{ type: 'SourceRemoved', data: { sourceId: command.sourceId, at: command.at } }];
    }
  },

  evolve(state, event) {
    switch (event.type) {
      case 'SourceRegistered':
        return {
          status: 'active',
          sourceId: event.data.sourceId,
          name: event.data.name,
          path: event.data.path,
          subjectRules: event.data.subjectRules ?? [],
        };
      case 'SourceUpdated':
        if (state.status === 'none') return state;
        return {
          ...state,
          name: event.data.name ?? state.name,
          path: event.data.path ?? state.path,
          subjectRules: event.data.subjectRules ?? state.subjectRules,
        };
      case 'SourceRemoved':
        return state.status === 'none' ? state : { ...state, status: 'removed' };
    }
  },
};

export function requireActive(state: SourceState, sourceId: string): Extract<SourceState, { status: 'active' | 'removed' }> {
  if (state.status === 'none') throw new DomainError('NOT_FOUND', `source ${sourceId} does not exist`);
  if (state.status === 'removed') throw invalidTransition(`source ${sourceId} has been removed`);
  return state;
}

function assertPath(path: string): void {
  if (!path.startsWith('/') || path.includes('\0')) {
    throw new DomainError('INVALID_INPUT', 'path must be an absolute path');
  }
}
