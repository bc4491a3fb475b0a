import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { randomUUID } from 'node:crypto';
import { ExecuteBackupCommand } from '../../application/commands/commands';
import { CommandContext } from '../../application/event-envelope';
import { GetBackupQuery, ListBackupsQuery } from '../../application/queries/catalog.queries';
import { BackupView, Page } from '../../application/queries/views';
import { RequestContext } from './actor';
import { CancelBackupDto, ListBackupsQueryDto, RequestBackupDto } from './dto';
import { ResourceIdPipe } from './id.pipe';
import { Requires } from './access.guard';

@Controller('backups')
export class BackupsController {
  constructor(
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
  ) {}

  /** 202 once BackupRequested is durably stored; the backup itself runs in a worker. */
  @Requires('backups:manage')
  @Post()
  @HttpCode(202)
  async request(@Body() body: RequestBackupDto, @RequestContext() context: CommandContext) {
    const backupId = randomUUID();
    await this.commands.execute(
      new ExecuteBackupCommand({ type: 'RequestBackup', backupId, sourceId: body.sourceId, backupType: body.type }, context),
    );
    return { id: backupId, sourceId: body.sourceId, type: body.type, status: 'requested' };
  }

  @Requires('backups:manage')
  @Post(':id/cancel')
  @HttpCode(202)
  async cancel(@Param('id', ResourceIdPipe) id: string, @Body() body: CancelBackupDto, @RequestContext() context: CommandContext) {
    await this.commands.execute(
      new ExecuteBackupCommand({ type: 'CancelBackup', backupId: id, reason: body.reason ?? `cancelled by ${context.actor}` }, context),
    );
    return { id, status: 'cancelled' };
  }

  @Requires('backups:manage')
  @Post(':id/verify')
  @HttpCode(202)
  async verify(@Param('id', ResourceIdPipe) id: string, @RequestContext() context: CommandContext) {
    const verificationId = randomUUID();
    await this.commands.execute(new ExecuteBackupCommand({ type: 'VerifyBackup', backupId: id, verificationId }, context));
    return { id, verificationId, verification: 'requested' };
  }

  /**
   * 202 once the deletion is recorded: a worker removes the snapshot from the repository and
   * prunes the data nothing else uses. Only a completed backup can be deleted; restores of it
   * are refused from now on. The retention policy deletes expired backups the same way.
   */
  @Requires('backups:manage')
  @Delete(':id')
  @HttpCode(202)
  async delete(@Param('id', ResourceIdPipe) id: string, @RequestContext() context: CommandContext) {
    const deletionId = randomUUID();
    await this.commands.execute(new ExecuteBackupCommand({ type: 'DeleteBackup', backupId: id, deletionId, reason: 'operator' }, context));
    return { id, deletionId, status: 'deleting' };
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
}
