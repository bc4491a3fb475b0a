import { Inject } from '@nestjs/common';
import { CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { RestoreCommand, RestoreState, Streams, backupDecider, restoreDecider } from '../../domain';
import { AggregateStore } from '../aggregate-store';
import { Clock } from '../ports/clock';
import { EventStore } from '../ports/event-store';
import { CLOCK, EVENT_STORE } from '../tokens';
import { CommandResult, ExecuteRestoreCommand } from './commands';

@CommandHandler(ExecuteRestoreCommand)
export class RestoreCommandHandler implements ICommandHandler<ExecuteRestoreCommand, CommandResult<RestoreState>> {
  private readonly aggregates: AggregateStore;

  constructor(
    @Inject(EVENT_STORE) events: EventStore,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {
    this.aggregates = new AggregateStore(events);
  }

  async execute({ command, context }: ExecuteRestoreCommand): Promise<CommandResult<RestoreState>> {
    const at = this.clock.now().toISOString();
    let full: RestoreCommand;
    if (command.type === 'RequestRestore') {
      // The decision needs the backup's status and snapshot.
      const { state: backup } = await this.aggregates.load(backupDecider, Streams.backup(command.backupId));
      full = {
        ...command,
        backup:
          backup.status === 'none'
            ? { status: 'none' }
            : { status: backup.status, sourceId: backup.sourceId, snapshotId: backup.snapshotId },
        at,
      };
    } else {
      full = { ...command, at } as RestoreCommand;
    }
    return this.aggregates.execute(restoreDecider, Streams.restore(command.restoreId), full, context, at);
  }
}
