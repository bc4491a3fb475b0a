/**
 * Sources: what the API may ask (SourceRequests, used by the REST controller and the GraphQL
 * resolver alike) and how a command on a source is decided and recorded (SourceCommandHandler).
 */
import { Inject, Injectable } from '@nestjs/common';
import { CommandBus, CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { randomUUID } from 'node:crypto';
import { DomainError, SourceState, Streams, sourceDecider } from '../../domain';
import { AggregateStore } from '../aggregate-store';
import { CommandContext } from '../event-envelope';
import { Clock } from '../ports/clock';
import { EventStore } from '../ports/event-store';
import { SourcePaths } from '../ports/source-paths';
import { SubjectRuleSyntax } from '../ports/subject-rule-syntax';
import { CLOCK, EVENT_STORE, SOURCE_PATHS, SUBJECT_RULE_SYNTAX } from '../tokens';
import { CommandResult, ExecuteSourceCommand } from './commands';

/** What registering a source takes (the REST DTO and the GraphQL input validate its shape). */
export interface RegisterSourceInput {
  name: string;
  path: string;
  subjectRules?: string[];
  dataCategories?: string[];
  purposes?: string[];
}

export type UpdateSourceInput = Partial<RegisterSourceInput>;

/**
 * The operator's commands on sources: each records its event and answers with what was
 * accepted (the catalog shows it once the projections have caught up).
 */
@Injectable()
export class SourceRequests {
  constructor(
    private readonly commands: CommandBus,
    @Inject(SUBJECT_RULE_SYNTAX) private readonly ruleSyntax: SubjectRuleSyntax,
  ) {}

  async registerSource(body: RegisterSourceInput, context: CommandContext) {
    const sourceId = randomUUID();
    const subjectRules = this.checkSubjectRules(body.subjectRules);
    const { dataCategories, purposes } = body;
    await this.commands.execute(
      new ExecuteSourceCommand(
        { type: 'RegisterSource', sourceId, name: body.name, path: body.path, subjectRules, dataCategories, purposes },
        context,
      ),
    );
    return {
      id: sourceId,
      name: body.name,
      path: body.path,
      subjectRules: subjectRules ?? [],
      dataCategories: dataCategories ?? [],
      purposes: purposes ?? [],
      status: 'active',
    };
  }

  async updateSource(id: string, body: UpdateSourceInput, context: CommandContext) {
    const { name, path, dataCategories, purposes } = body;
    const subjectRules = this.checkSubjectRules(body.subjectRules);
    const result = await this.commands.execute<ExecuteSourceCommand, CommandResult<SourceState>>(
      new ExecuteSourceCommand({ type: 'UpdateSource', sourceId: id, name, path, subjectRules, dataCategories, purposes }, context),
    );
    const state = result.state;
    if (state.status === 'none') return { id };
    return {
      id,
      name: state.name,
      path: state.path,
      subjectRules: state.subjectRules,
      dataCategories: state.dataCategories,
      purposes: state.purposes,
      status: state.status,
    };
  }

  async removeSource(id: string, context: CommandContext) {
    await this.commands.execute(new ExecuteSourceCommand({ type: 'RemoveSource', sourceId: id }, context));
    return { id, status: 'removed' };
  }

  /** A bad subject rule is a 400 now, not a failed backup later. */
  private checkSubjectRules(rules: string[] | undefined): string[] | undefined {
    if (rules === undefined) return undefined;
    const problem = this.ruleSyntax.problemWith(rules);
    if (problem !== null) throw new DomainError('INVALID_INPUT', `subjectRules: ${problem}`);
    return rules;
  }
}

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
    // The folder is checked on this machine before anything is recorded.
    if ('path' in command && command.path !== undefined) {
      const problem = await this.paths.problemWith(command.path);
      if (problem) throw new DomainError(problem.code, problem.message);
    }
    const at = this.clock.now().toISOString();
    return this.aggregates.execute(sourceDecider, Streams.source(command.sourceId), { ...command, at }, context, at);
  }
}
