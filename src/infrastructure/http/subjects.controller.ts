import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { CommandContext } from '../../application/event-envelope';
import { ErasureView, GetErasureQuery, SubjectDataView } from '../../application/queries/subject.queries';
import { PSEUDONYM_PATTERN } from '../../engine/repository/format';
import { DomainError } from '../../domain';
import { RequestContext } from './actor';
import { SubjectRequests } from '../../application/commands/subjects';
import { RequestErasureDto, SubjectLookupDto } from './dto';
import { ResourceIdPipe } from './id.pipe';
import { Requires } from './access.guard';

/**
 * Data subjects' rights. The external id arrives in a request body (never in a URL, which
 * proxies log), is turned into the pseudonym at once, and only the pseudonym goes further.
 */
@Controller()
export class SubjectsController {
  constructor(
    private readonly queries: QueryBus,
    private readonly requests: SubjectRequests,
  ) {}

  /**
   * Erasure (Art. 17): 202 once ErasureRequested is stored; a worker then destroys the subject's
   * keys. Asking again for a subject being or already erased changes nothing and answers with
   * that erasure.
   */
  @Requires('erasures:request')
  @Post('erasures')
  @HttpCode(202)
  requestErasure(@Body() body: RequestErasureDto, @RequestContext() context: CommandContext) {
    return this.requests.requestErasure(body, context);
  }

  @Requires('erasures:read')
  @Get('erasures/:id')
  getErasure(@Param('id', ResourceIdPipe) id: string): Promise<ErasureView> {
    return this.queries.execute(new GetErasureQuery(id));
  }

  /** Subject access (Art. 15): which backups hold data of the subject, with counts and dates. */
  @Requires('subjects:access')
  @Post('subjects/lookup')
  @HttpCode(200)
  lookup(@Body() body: SubjectLookupDto, @RequestContext() context: CommandContext): Promise<SubjectDataView> {
    return this.requests.lookUpSubjectById(body.subjectId, context);
  }

  /** The same, for a pseudonym already known (from the audit trail or an earlier lookup). */
  @Requires('subjects:access')
  @Get('subjects/:pseudonym')
  bySubject(@Param('pseudonym') pseudonym: string, @RequestContext() context: CommandContext): Promise<SubjectDataView> {
    if (!PSEUDONYM_PATTERN.test(pseudonym)) throw new DomainError('INVALID_INPUT', 'not a subject pseudonym');
    return this.requests.lookUpSubject(pseudonym, context);
  }
}
