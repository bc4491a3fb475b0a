import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { randomUUID } from 'node:crypto';
import { ExecuteSourceCommand } from '../../application/commands/commands';
import { CommandContext } from '../../application/event-envelope';
import { GetSourceQuery, ListSourcesQuery } from '../../application/queries/catalog.queries';
import { SourceView } from '../../application/queries/views';
import { DomainError, SourceState } from '../../domain';
import { SubjectRules } from '../../engine';
import { RequestContext } from './actor';
import { CreateSourceDto, ListSourcesQueryDto, UpdateSourceDto } from './dto';
import { ResourceIdPipe } from './id.pipe';

/** Subject rules are parsed by the engine that will apply them; a bad one is a 400 now, not a failed backup later. */
function checkSubjectRules(rules: string[] | undefined): string[] | undefined {
  if (rules === undefined) return undefined;
  try {
    SubjectRules.compile(rules);
  } catch (error) {
    throw new DomainError('INVALID_INPUT', `subjectRules: ${error instanceof Error ? error.message : String(error)}`);
  }
  return rules;
}

@Controller('sources')
export class SourcesController {
  constructor(
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
  ) {}

  @Post()
  @HttpCode(201)
  async register(@Body() body: CreateSourceDto, @RequestContext() context: CommandContext) {
    const sourceId = randomUUID();
    const subjectRules = checkSubjectRules(body.subjectRules);
    await this.commands.execute(
      new ExecuteSourceCommand({ type: 'RegisterSource', sourceId, name: body.name, path: body.path, subjectRules }, context),
    );
    return { id: sourceId, name: body.name, path: body.path, subjectRules: subjectRules ?? [], status: 'active' };
  }

  @Patch(':id')
  async update(@Param('id', ResourceIdPipe) id: string, @Body() body: UpdateSourceDto, @RequestContext() context: CommandContext) {
    const result = await this.commands.execute<ExecuteSourceCommand, { state: SourceState }>(
      new ExecuteSourceCommand(
        { type: 'UpdateSource', sourceId: id, name: body.name, path: body.path, subjectRules: checkSubjectRules(body.subjectRules) },
        context,
      ),
    );
    const state = result.state;
    return state.status === 'none'
      ? { id }
      : { id, name: state.name, path: state.path, subjectRules: state.subjectRules, status: state.status };
  }

  @Delete(':id')
  async remove(@Param('id', ResourceIdPipe) id: string, @RequestContext() context: CommandContext) {
    await this.commands.execute(new ExecuteSourceCommand({ type: 'RemoveSource', sourceId: id }, context));
    return { id, status: 'removed' };
  }

  @Get()
  list(@Query() query: ListSourcesQueryDto): Promise<SourceView[]> {
    return this.queries.execute(new ListSourcesQuery(query.includeRemoved ?? false));
  }

  @Get(':id')
  get(@Param('id', ResourceIdPipe) id: string): Promise<SourceView> {
    return this.queries.execute(new GetSourceQuery(id));
  }
}
