import { BackupCommand, RestoreCommand, SourceCommand, SubjectCommand } from '../../domain';
import { CommandContext } from '../event-envelope';

/** `Omit` that keeps a union a union: the handler stamps `at` from the clock. */
export type WithoutTime<T> = T extends unknown ? Omit<T, 'at'> : never;

/** Commands on the CommandBus: one message class per aggregate, carrying the domain command. */
export class ExecuteSourceCommand {
  constructor(
    readonly command: WithoutTime<SourceCommand>,
    readonly context: CommandContext,
  ) {}
}

export class ExecuteBackupCommand {
  constructor(
    readonly command:
      | WithoutTime<Exclude<BackupCommand, { type: 'RequestBackup' }>>
      | Omit<Extract<BackupCommand, { type: 'RequestBackup' }>, 'at' | 'sourceActive'>,
    readonly context: CommandContext,
  ) {}
}

export class ExecuteRestoreCommand {
  constructor(
    readonly command:
      | WithoutTime<Exclude<RestoreCommand, { type: 'RequestRestore' }>>
      | Omit<Extract<RestoreCommand, { type: 'RequestRestore' }>, 'at' | 'backup'>,
    readonly context: CommandContext,
  ) {}
}

/** Erasure commands; the subject is already a pseudonym here (the HTTP edge turned the external id into one). */
export class ExecuteSubjectCommand {
  constructor(
    readonly command: WithoutTime<SubjectCommand>,
    readonly context: CommandContext,
  ) {}
}

/** What every command handler returns: the aggregate's state after the command. */
export interface CommandResult<State> {
  state: State;
  appended: number;
  position: number | null;
}
