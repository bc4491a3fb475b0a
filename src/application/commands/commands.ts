import type { CommandBus, ICommand } from '@nestjs/cqrs';
import { BackupCommand, isInvalidTransition, JobCommand, RestoreCommand, SourceCommand, SubjectCommand } from '../../domain';
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

/** The jobs process manager's record of a job's attempts (domain/job.ts). */
export class ExecuteJobCommand {
  constructor(
    readonly command: WithoutTime<JobCommand>,
    readonly context: CommandContext,
  ) {}
}

/** What every command handler returns: the aggregate's state after the command. */
export interface CommandResult<State> {
  state: State;
  appended: number;
  position: number | null;
}

/**
 * For the system's own commands (process managers, schedulers), which act on a read model or a
 * message that may lag the log: false when the aggregate has moved on and refuses the command
 * as an invalid transition, which for such a caller is nothing to do, not an error.
 */
export async function executeUnlessMovedOn(commands: CommandBus, command: ICommand): Promise<boolean> {
  try {
    await commands.execute(command);
    return true;
  } catch (error) {
    if (isInvalidTransition(error)) return false;
    throw error;
  }
}
