import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { CommandContext } from '../../application/event-envelope';
import { GetBackupQuery, ListBackupsQuery } from '../../application/queries/catalog.queries';
import { BackupView, Page } from '../../application/queries/views';
import { RequestContext } from './actor';
import { CancelBackupDto, ListBackupProblemsQueryDto, ListBackupsQueryDto, RequestBackupDto } from './dto';
import { ResourceIdPipe } from './id.pipe';
import { BackupRequests } from '../../application/commands/backups';
import { BackupProblemsView } from '../../application/queries/backup-problems.query';
import { Requires } from './access.guard';

@Controller('backups')
export class BackupsController {
  constructor(
    private readonly queries: QueryBus,
    private readonly requests: BackupRequests,
  ) {}

  /** 202 once BackupRequested is durably stored; the backup itself runs in a worker. */
  @Requires('backups:manage')
  @Post()
  @HttpCode(202)
  request(@Body() body: RequestBackupDto, @RequestContext() context: CommandContext) {
    return this.requests.requestBackup(body, context);
  }

  @Requires('backups:manage')
  @Post(':id/cancel')
  @HttpCode(202)
  cancel(@Param('id', ResourceIdPipe) id: string, @Body() body: CancelBackupDto, @RequestContext() context: CommandContext) {
    return this.requests.cancelBackup(id, body.reason, context);
  }

  @Requires('backups:manage')
  @Post(':id/verify')
  @HttpCode(202)
  verify(@Param('id', ResourceIdPipe) id: string, @RequestContext() context: CommandContext) {
    return this.requests.verifyBackup(id, context);
  }

  /**
   * 202 once the deletion is recorded: a worker removes the snapshot from the repository and
   * prunes the data nothing else uses. The retention policy deletes expired backups the same way.
   */
  @Requires('backups:manage')
  @Delete(':id')
  @HttpCode(202)
  delete(@Param('id', ResourceIdPipe) id: string, @RequestContext() context: CommandContext) {
    return this.requests.deleteBackup(id, context);
  }

  @Requires('catalog:read')
  @Get()
  list(@Query() query: ListBackupsQueryDto): Promise<Page<BackupView>> {
    return this.queries.execute(
      new ListBackupsQuery(
        { sourceId: query.sourceId, status: query.status, from: query.from, to: query.to },
        { limit: query.limit, offset: query.offset },
      ),
    );
  }

  @Requires('catalog:read')
  @Get(':id')
  get(@Param('id', ResourceIdPipe) id: string): Promise<BackupView> {
    return this.queries.execute(new GetBackupQuery(id));
  }

  /**
   * What the backup skipped or found changing, with paths and messages (those of erased data
   * subjects stay sealed: reason and pseudonym only). Each read is audited.
   */
  @Requires('backups:errors:read')
  @Get(':id/errors')
  errors(
    @Param('id', ResourceIdPipe) id: string,
    @Query() query: ListBackupProblemsQueryDto,
    @RequestContext() context: CommandContext,
  ): Promise<BackupProblemsView> {
    return this.requests.readBackupProblems(id, query.reason, { limit: query.limit, offset: query.offset }, context);
  }
}
