import { Inject } from '@nestjs/common';
import { CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { SubjectCommand, SubjectState, Streams, subjectDecider } from '../../domain';
import { AggregateStore } from '../aggregate-store';
import { Clock } from '../ports/clock';
import { EventStore } from '../ports/event-store';
import { CLOCK, EVENT_STORE } from '../tokens';
import { CommandResult, ExecuteSubjectCommand } from './commands';

@CommandHandler(ExecuteSubjectCommand)
export class SubjectCommandHandler implements ICommandHandler<ExecuteSubjectCommand, CommandResult<SubjectState>> {
  private readonly aggregates: AggregateStore;

  constructor(
    @Inject(EVENT_STORE) events: EventStore,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {
    this.aggregates = new AggregateStore(events);
  }

  execute({ command, context }: ExecuteSubjectCommand): Promise<CommandResult<SubjectState>> {
    const at = this.clock.now().toISOString();
    return this.aggregates.execute(subjectDecider, Streams.subject(command.subject), { ...command, at } as SubjectCommand, context, at);
  }
}
