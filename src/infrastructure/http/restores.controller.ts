import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { CommandContext } from '../../application/event-envelope';
import { GetRestoreQuery, ListRestoresQuery } from '../../application/queries/catalog.queries';
import { Page, RestoreView } from '../../application/queries/views';
import { RequestContext } from './actor';
import { RestoreRequests } from '../../application/commands/restores';
import { ListRestoresQueryDto, RequestRestoreDto } from './dto';
import { ResourceIdPipe } from './id.pipe';
import { Requires } from './access.guard';

@Controller('restores')
export class RestoresController {
  constructor(
    private readonly queries: QueryBus,
    private readonly requests: RestoreRequests,
  ) {}

  /** 202 once RestoreRequested is durably stored; the restore itself runs in a worker. */
  @Requires('restores:request', 'subjects:access')
  @Post()
  @HttpCode(202)
  request(@Body() body: RequestRestoreDto, @RequestContext() context: CommandContext) {
    return this.requests.requestRestore(body, context);
  }

  @Requires('catalog:read')
  @Get()
  list(@Query() query: ListRestoresQueryDto): Promise<Page<RestoreView>> {
    return this.queries.execute(
      new ListRestoresQuery({ backupId: query.backupId, status: query.status }, { limit: query.limit, offset: query.offset }),
    );
  }

  @Requires('catalog:read')
  @Get(':id')
  get(@Param('id', ResourceIdPipe) id: string): Promise<RestoreView> {
    return this.queries.execute(new GetRestoreQuery(id));
  }
}
