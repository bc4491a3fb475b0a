import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { randomUUID } from 'node:crypto';
import { ExecuteRestoreCommand } from '../../application/commands/commands';
import { CommandContext } from '../../application/event-envelope';
import { GetRestoreQuery, ListRestoresQuery } from '../../application/queries/catalog.queries';
import { Page, RestoreView } from '../../application/queries/views';
import { SubjectPseudonyms } from '../../application/ports/pseudonyms';
import { SUBJECT_PSEUDONYMS } from '../../application/tokens';
import { RequestContext } from './actor';
import { ListRestoresQueryDto, RequestRestoreDto } from './dto';
import { ResourceIdPipe } from './id.pipe';
import { assertSafeIncludes, RestoreTargets } from './restore-targets';

@Controller('restores')
export class RestoresController {
  constructor(
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
    @Inject(RestoreTargets) private readonly targets: RestoreTargets,
    @Inject(SUBJECT_PSEUDONYMS) private readonly pseudonyms: SubjectPseudonyms,
  ) {}

  /** 202 once RestoreRequested is durably stored; the restore itself runs in a worker. */
  @Post()
  @HttpCode(202)
  async request(@Body() body: RequestRestoreDto, @RequestContext() context: CommandContext) {
    const target = await this.targets.check(body.target);
    const include = assertSafeIncludes(body.include ?? []);
    const restoreId = randomUUID();
    // An access request (Art. 15) restores one subject's files; only its pseudonym is recorded.
    const subject = body.subjectId === undefined ? undefined : this.pseudonyms.pseudonymOf(body.subjectId);
    const purpose = body.purpose ?? (subject ? 'data subject access request (GDPR Art. 15)' : 'operational restore');
    await this.commands.execute(
      new ExecuteRestoreCommand({ type: 'RequestRestore', restoreId, backupId: body.backupId, target, include, purpose, subject }, context),
    );
    return { id: restoreId, backupId: body.backupId, target, include, purpose, ...(subject && { subject }), status: 'requested' };
  }

  @Get()
  list(@Query() query: ListRestoresQueryDto): Promise<Page<RestoreView>> {
    return this.queries.execute(
      new ListRestoresQuery({ backupId: query.backupId, status: query.status }, { limit: query.limit, offset: query.offset }),
    );
  }

  @Get(':id')
  get(@Param('id', ResourceIdPipe) id: string): Promise<RestoreView> {
    return this.queries.execute(new GetRestoreQuery(id));
  }
}
