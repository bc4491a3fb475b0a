import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Patch, Post, Query } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { CommandContext } from '../../application/event-envelope';
import { GetSourceQuery, ListSourcesQuery } from '../../application/queries/catalog.queries';
import { GetSourceProcessingFactsQuery, SourceProcessingFacts } from '../../application/queries/processing-record.query';
import { SourceView } from '../../application/queries/views';
import { Configuration } from '../config/configuration';
import { CONFIGURATION } from '../configuration.token';
import { ProcessingRecord, processingRecord } from './processing-record';
import { RequestContext } from './actor';
import { SourceRequests } from '../../application/commands/sources';
import { CreateSourceDto, ListSourcesQueryDto, UpdateSourceDto } from './dto';
import { ResourceIdPipe } from './id.pipe';
import { Requires } from './access.guard';

@Controller('sources')
export class SourcesController {
  constructor(
    private readonly queries: QueryBus,
    @Inject(CONFIGURATION) private readonly config: Configuration,
    private readonly requests: SourceRequests,
  ) {}

  @Requires('sources:manage')
  @Post()
  @HttpCode(201)
  register(@Body() body: CreateSourceDto, @RequestContext() context: CommandContext) {
    return this.requests.registerSource(body, context);
  }

  @Requires('sources:manage')
  @Patch(':id')
  update(@Param('id', ResourceIdPipe) id: string, @Body() body: UpdateSourceDto, @RequestContext() context: CommandContext) {
    return this.requests.updateSource(id, body, context);
  }

  @Requires('sources:manage')
  @Delete(':id')
  remove(@Param('id', ResourceIdPipe) id: string, @RequestContext() context: CommandContext) {
    return this.requests.removeSource(id, context);
  }

  @Requires('catalog:read')
  @Get()
  list(@Query() query: ListSourcesQueryDto): Promise<SourceView[]> {
    return this.queries.execute(new ListSourcesQuery(query.includeRemoved ?? false));
  }

  /** The record of processing (GDPR Art. 30) for this source. */
  @Requires('catalog:read')
  @Get(':id/processing-record')
  async processingRecord(@Param('id', ResourceIdPipe) id: string): Promise<ProcessingRecord> {
    const facts = await this.queries.execute<GetSourceProcessingFactsQuery, SourceProcessingFacts>(new GetSourceProcessingFactsQuery(id));
    return processingRecord(facts, this.config);
  }

  @Requires('catalog:read')
  @Get(':id')
  get(@Param('id', ResourceIdPipe) id: string): Promise<SourceView> {
    return this.queries.execute(new GetSourceQuery(id));
  }
}
