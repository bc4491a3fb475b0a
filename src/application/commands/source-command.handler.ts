import { Inject } from '@nestjs/common';
import { CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { DomainError, SourceState, Streams, sourceDecider } from '../../domain';
import { AggregateStore } from '../aggregate-store';
import { Clock } from '../ports/clock';
import { EventStore } from '../ports/event-store';
import { SourcePaths } from '../ports/source-paths';
import { CLOCK, EVENT_STORE, SOURCE_PATHS } from '../tokens';
import { CommandResult, ExecuteSourceCommand } from './commands';

@CommandHandler(ExecuteSourceCommand)
export class SourceCommandHandler implements ICommandHandler<ExecuteSourceCommand, CommandResult<SourceState>> {
  private readonly aggregates: AggregateStore;

  constructor(
    @Inject(EVENT_STORE) events: EventStore,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(SOURCE_PATHS) private readonly paths: SourcePaths,
  ) {
    this.aggregates = new AggregateStore(events);
  }

  async execute({ command, context }: ExecuteSourceCommand): Promise<CommandResult<SourceState>> {
    if ('path' in command && command.path !== undefined) {
      const problem = await this.paths.problemWith(command.path);
      if (problem) throw new DomainError(problem.code, problem.message);
    }
    const at = this.clock.now().toISOString();
    return this.aggregates.execute(sourceDecider, Streams.source(command.sourceId), { ...command, at }, context, at);
  }
}
