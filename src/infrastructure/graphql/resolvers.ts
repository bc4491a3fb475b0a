import { Args, ID, Int, Mutation, Query, Resolver } from '@nestjs/graphql';
import { QueryBus } from '@nestjs/cqrs';
import { CommandContext } from '../../application/event-envelope';
import type { BackupStatus, RestoreStatus } from '../../domain';
import { AuditVerification } from '../../application/projections/audit-chain';
import { AuditEntryView, ListAuditEntriesQuery, VerifyAuditTrailQuery } from '../../application/queries/audit.queries';
import {
  GetBackupQuery,
  GetRestoreQuery,
  ListBackupsQuery,
  ListRestoresQuery,
  ListSourcesQuery,
} from '../../application/queries/catalog.queries';
import { ErasureView, GetErasureQuery, SubjectDataView } from '../../application/queries/subject.queries';
import { BackupView, Page, RestoreView, SourceView } from '../../application/queries/views';
import { BackupRequests } from '../../application/commands/backups';
import { RestoreRequests } from '../../application/commands/restores';
import { SourceRequests } from '../../application/commands/sources';
import { SubjectRequests } from '../../application/commands/subjects';
import { CreateSourceDto, RequestBackupDto, RequestErasureDto, RequestRestoreDto, SubjectLookupDto, UpdateSourceDto } from '../http/dto';
import { ResourceIdPipe } from '../http/id.pipe';
import { GraphQLRequestContext } from './context';
import { BackupStatusEnum, RestoreStatusEnum } from './enums';
import { DateTimeScalar } from './scalars';
import {
  AuditPageType,
  AuditVerificationType,
  BackupCancellationType,
  BackupDeletionType,
  BackupPageType,
  BackupType,
  ErasureType,
  RestorePageType,
  RestoreType,
  SourceRemovalType,
  SourceType,
  SubjectDataType,
  VerificationRequestType,
} from './types';
import { Requires } from '../http/access.guard';
import { COST } from './limits';

const MAX_PAGE = 500;

function page(limit: number, offset: number): { limit: number; offset: number } {
  return { limit: Math.min(Math.max(limit, 1), MAX_PAGE), offset: Math.max(offset, 0) };
}

/**
 * The GraphQL API (POST /graphql): the same commands and queries as the REST controllers, over
 * the same CQRS buses, with the same validation (the input types are the REST DTOs) and the
 * same error codes (in `extensions.code`), behind the same tokens and roles (AccessGuard).
 */
@Resolver()
export class CustodiaResolver {
  constructor(
    private readonly queries: QueryBus,
    private readonly sourceRequests: SourceRequests,
    private readonly backupRequests: BackupRequests,
    private readonly restoreRequests: RestoreRequests,
    private readonly subjectRequests: SubjectRequests,
  ) {}

  @Requires('catalog:read')
  @Query(() => [SourceType], { complexity: COST.unbounded })
  sources(@Args('includeRemoved', { type: () => Boolean, defaultValue: false }) includeRemoved: boolean): Promise<SourceView[]> {
    return this.queries.execute(new ListSourcesQuery(includeRemoved));
  }

  @Requires('catalog:read')
  @Query(() => BackupPageType, { complexity: COST.page(50, MAX_PAGE) })
  backups(
    @Args('sourceId', { type: () => ID, nullable: true }) sourceId: string | undefined,
    @Args('status', { type: () => BackupStatusEnum, nullable: true }) status: BackupStatus | undefined,
    @Args('from', { type: () => DateTimeScalar, nullable: true, description: 'requested at or after' }) from: string | undefined,
    @Args('to', { type: () => DateTimeScalar, nullable: true, description: 'requested before' }) to: string | undefined,
    @Args('limit', { type: () => Int, defaultValue: 50 }) limit: number,
    @Args('offset', { type: () => Int, defaultValue: 0 }) offset: number,
  ): Promise<Page<BackupView>> {
    return this.queries.execute(
      new ListBackupsQuery(
        { sourceId: sourceId ?? undefined, status: status ?? undefined, from: from ?? undefined, to: to ?? undefined },
        page(limit, offset),
      ),
    );
  }

  @Requires('catalog:read')
  @Query(() => BackupType)
  backup(@Args('id', { type: () => ID }, ResourceIdPipe) id: string): Promise<BackupView> {
    return this.queries.execute(new GetBackupQuery(id));
  }

  @Requires('catalog:read')
  @Query(() => RestoreType)
  restore(@Args('id', { type: () => ID }, ResourceIdPipe) id: string): Promise<RestoreView> {
    return this.queries.execute(new GetRestoreQuery(id));
  }

  @Requires('catalog:read')
  @Query(() => RestorePageType, { description: 'the restore history', complexity: COST.page(50, MAX_PAGE) })
  restores(
    @Args('backupId', { type: () => ID, nullable: true }) backupId: string | undefined,
    @Args('status', { type: () => RestoreStatusEnum, nullable: true }) status: RestoreStatus | undefined,
    @Args('limit', { type: () => Int, defaultValue: 50 }) limit: number,
    @Args('offset', { type: () => Int, defaultValue: 0 }) offset: number,
  ): Promise<Page<RestoreView>> {
    return this.queries.execute(
      new ListRestoresQuery({ backupId: backupId ?? undefined, status: status ?? undefined }, page(limit, offset)),
    );
  }

  /** Subject access (Art. 15): the id is pseudonymised at once, and the lookup is audited. */
  @Requires('subjects:access')
  @Query(() => SubjectDataType)
  subjectData(@Args('input') input: SubjectLookupDto, @GraphQLRequestContext() context: CommandContext): Promise<SubjectDataView> {
    return this.subjectRequests.lookUpSubjectById(input.subjectId, context);
  }

  @Requires('erasures:read')
  @Query(() => ErasureType)
  erasure(@Args('id', { type: () => ID }, ResourceIdPipe) id: string): Promise<ErasureView> {
    return this.queries.execute(new GetErasureQuery(id));
  }

  @Requires('audit:read')
  @Query(() => AuditPageType, {
    description: 'the audit trail in chain order; subject is a pseudonym',
    complexity: COST.page(50, MAX_PAGE),
  })
  async auditTrail(
    @Args('subject', { type: () => String, nullable: true }) subject: string | undefined,
    @Args('actor', { type: () => String, nullable: true }) actor: string | undefined,
    @Args('from', { type: () => DateTimeScalar, nullable: true, description: 'occurred at or after' }) from: string | undefined,
    @Args('to', { type: () => DateTimeScalar, nullable: true, description: 'occurred before' }) to: string | undefined,
    @Args('limit', { type: () => Int, defaultValue: 50 }) limit: number,
    @Args('offset', { type: () => Int, defaultValue: 0 }) offset: number,
  ): Promise<AuditPageType> {
    // DateTime has turned from and to into UTC ISO text, the form occurred_at is compared in.
    const result: Page<AuditEntryView> = await this.queries.execute(
      new ListAuditEntriesQuery(
        { subject: subject ?? undefined, actor: actor ?? undefined, from: from ?? undefined, to: to ?? undefined },
        page(limit, offset),
      ),
    );
    return {
      total: result.total,
      items: result.items.map((entry) => ({ ...entry, details: entry.details ? JSON.stringify(entry.details) : null })),
    };
  }

  @Requires('audit:read')
  @Query(() => AuditVerificationType, { complexity: COST.auditVerification })
  auditVerification(): Promise<AuditVerification> {
    return this.queries.execute(new VerifyAuditTrailQuery());
  }

  @Requires('sources:manage')
  @Mutation(() => SourceType)
  registerSource(@Args('input') input: CreateSourceDto, @GraphQLRequestContext() context: CommandContext) {
    return this.sourceRequests.registerSource(input, context);
  }

  @Requires('sources:manage')
  @Mutation(() => SourceType, { description: 'changes only the fields given' })
  updateSource(
    @Args('id', { type: () => ID }, ResourceIdPipe) id: string,
    @Args('input') input: UpdateSourceDto,
    @GraphQLRequestContext() context: CommandContext,
  ) {
    return this.sourceRequests.updateSource(id, input, context);
  }

  @Requires('sources:manage')
  @Mutation(() => SourceRemovalType, { description: 'no new backups; its backups stay until retention deletes them' })
  removeSource(@Args('id', { type: () => ID }, ResourceIdPipe) id: string, @GraphQLRequestContext() context: CommandContext) {
    return this.sourceRequests.removeSource(id, context);
  }

  @Requires('backups:manage')
  @Mutation(() => BackupType, { description: 'recorded as BackupRequested; a worker runs it' })
  async requestBackup(@Args('input') input: RequestBackupDto, @GraphQLRequestContext() context: CommandContext) {
    const accepted = await this.backupRequests.requestBackup(input, context);
    return { ...accepted, attempt: 0, verification: { status: 'none' } };
  }

  @Requires('backups:manage')
  @Mutation(() => BackupCancellationType)
  cancelBackup(
    @Args('id', { type: () => ID }, ResourceIdPipe) id: string,
    @Args('reason', { type: () => String, nullable: true }) reason: string | null,
    @GraphQLRequestContext() context: CommandContext,
  ) {
    return this.backupRequests.cancelBackup(id, reason ?? undefined, context);
  }

  @Requires('backups:manage')
  @Mutation(() => VerificationRequestType, { description: 'a worker reads every blob back and checks it' })
  verifyBackup(@Args('id', { type: () => ID }, ResourceIdPipe) id: string, @GraphQLRequestContext() context: CommandContext) {
    return this.backupRequests.verifyBackup(id, context);
  }

  @Requires('backups:manage')
  @Mutation(() => BackupDeletionType, { description: 'a worker removes the snapshot and prunes; restores of it are refused from then on' })
  deleteBackup(@Args('id', { type: () => ID }, ResourceIdPipe) id: string, @GraphQLRequestContext() context: CommandContext) {
    return this.backupRequests.deleteBackup(id, context);
  }

  @Requires('restores:request', 'subjects:access')
  @Mutation(() => RestoreType, { description: 'with subjectId: an access request (Art. 15) for that data subject only' })
  requestRestore(@Args('input') input: RequestRestoreDto, @GraphQLRequestContext() context: CommandContext) {
    return this.restoreRequests.requestRestore(input, context);
  }

  @Requires('erasures:request')
  @Mutation(() => ErasureType, { description: 'erasure (Art. 17); asking again answers with the same erasure' })
  requestErasure(@Args('input') input: RequestErasureDto, @GraphQLRequestContext() context: CommandContext) {
    return this.subjectRequests.requestErasure(input, context);
  }
}
