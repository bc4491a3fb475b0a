import { Inject } from '@nestjs/common';
import { CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { BackupCommand, BackupState, DomainError, Streams, backupDecider, sourceDecider } from '../../domain';
import { AggregateStore } from '../aggregate-store';
import { Clock } from '../ports/clock';
import { EventStore } from '../ports/event-store';
import { CLOCK, EVENT_STORE } from '../tokens';
import { CommandResult, ExecuteBackupCommand } from './commands';

@CommandHandler(ExecuteBackupCommand)
export class BackupCommandHandler implements ICommandHandler<ExecuteBackupCommand, CommandResult<BackupState>> {
  private readonly aggregates: AggregateStore;

  constructor(
    @Inject(EVENT_STORE) events: EventStore,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {
    this.aggregates = new AggregateStore(events);
  }

  async execute({ command, context }: ExecuteBackupCommand): Promise<CommandResult<BackupState>> {
    const at = this.clock.now().toISOString();
    let full: BackupCommand;
    if (command.type === 'RequestBackup') {
      // The decision needs to know whether the source exists and is active.
      const { state: source } = await this.aggregates.load(sourceDecider, Streams.source(command.sourceId));
      if (source.status === 'none') throw new DomainError('NOT_FOUND', `source ${command.sourceId} does not exist`);
      full = { ...command, sourceActive: source.status === 'active', at };
    } else {
      full = { ...command, at } as BackupCommand;
    }
    return this.aggregates.execute(backupDecider, Streams.backup(command.backupId), full, context, at);
  }
}
