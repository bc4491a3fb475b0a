/**
 * A job's attempts: recorded by the jobs process manager (never asked for through the API), each
 * fact once (domain/job.ts), in the job's own stream.
 */
import { Inject } from '@nestjs/common';
import { CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { JobCommand, jobDecider, JobState, Streams } from '../../domain';
import { AggregateStore } from '../aggregate-store';
import { Clock } from '../ports/clock';
import { EventStore } from '../ports/event-store';
import { CLOCK, EVENT_STORE } from '../tokens';
import { CommandResult, ExecuteJobCommand } from './commands';

@CommandHandler(ExecuteJobCommand)
export class JobCommandHandler implements ICommandHandler<ExecuteJobCommand, CommandResult<JobState>> {
  private readonly aggregates: AggregateStore;

  constructor(
    @Inject(EVENT_STORE) events: EventStore,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {
    this.aggregates = new AggregateStore(events);
  }

  execute({ command, context }: ExecuteJobCommand): Promise<CommandResult<JobState>> {
    const at = this.clock.now().toISOString();
    return this.aggregates.execute(jobDecider, Streams.job(command.jobId), { ...command, at } as JobCommand, context, at);
  }
}
