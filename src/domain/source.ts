import { Decider } from './decider';
import { DomainError, invalidTransition } from './domain-error';
import { EventOf, SourceLists } from './events';

export type SourceEvent = EventOf<'SourceRegistered'> | EventOf<'SourceUpdated'> | EventOf<'SourceRemoved'>;

export type SourceCommand =
  | ({ type: 'RegisterSource'; sourceId: string; name: string; path: string; at: string } & SourceLists)
  | ({ type: 'UpdateSource'; sourceId: string; name?: string; path?: string; at: string } & SourceLists)
  | { type: 'RemoveSource'; sourceId: string; at: string };

/** A registered source is backed up until it is removed (its backups stay until retention deletes them). */
export const SOURCE_STATUSES = ['active', 'removed'] as const;
export type SourceStatus = (typeof SOURCE_STATUSES)[number];

export type SourceState =
  { status: 'none' } | ({ status: SourceStatus; sourceId: string; name: string; path: string } & Required<SourceLists>);

/** The list fields a source carries; each is stored only when set, and compared as a whole. */
const LISTS = ['subjectRules', 'dataCategories', 'purposes'] as const;

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
              ...Object.fromEntries(LISTS.filter((list) => command[list]?.length).map((list) => [list, command[list]])),
              at: command.at,
            },
          },
        ];
      case 'UpdateSource': {
        const active = requireActive(state, command.sourceId);
        if (command.path !== undefined) assertPath(command.path);
        const name = command.name !== undefined && command.name !== active.name ? command.name : undefined;
        const path = command.path !== undefined && command.path !== active.path ? command.path : undefined;
        const changedLists = LISTS.filter((list) => {
          const wanted = command[list];
          return wanted !== undefined && JSON.stringify(wanted) !== JSON.stringify(active[list]);
        });
        if (name === undefined && path === undefined && changedLists.length === 0) return [];
        return [
          {
            type: 'SourceUpdated',
            data: {
              sourceId: command.sourceId,
              ...(name !== undefined && { name }),
              ...(path !== undefined && { path }),
              ...Object.fromEntries(changedLists.map((list) => [list, command[list]])),
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
          dataCategories: event.data.dataCategories ?? [],
          purposes: event.data.purposes ?? [],
        };
      case 'SourceUpdated':
        if (state.status === 'none') return state;
        return {
          ...state,
          name: event.data.name ?? state.name,
          path: event.data.path ?? state.path,
          subjectRules: event.data.subjectRules ?? state.subjectRules,
          dataCategories: event.data.dataCategories ?? state.dataCategories,
          purposes: event.data.purposes ?? state.purposes,
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
