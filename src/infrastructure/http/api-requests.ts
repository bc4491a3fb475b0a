import { Inject, Injectable } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { GetSubjectDataQuery, SubjectDataView } from '../../application/queries/subject.queries';
import { BackupProblemsView, GetBackupProblemsQuery } from '../../application/queries/backup-problems.query';
import type { PageRequest } from '../../application/queries/catalog.queries';
import { randomUUID } from 'node:crypto';
import { CommandResult, ExecuteBackupCommand, ExecuteRestoreCommand, ExecuteSubjectCommand } from '../../application/commands/commands';
import { CommandContext } from '../../application/event-envelope';
import { SubjectPseudonyms } from '../../application/ports/pseudonyms';
import { SUBJECT_PSEUDONYMS } from '../../application/tokens';
import { BackupState, ProblemReasonData, SubjectState } from '../../domain';
import { RequestErasureDto, RequestRestoreDto } from './dto';
import { assertSafeIncludes, RestoreTargets } from './restore-targets';
import { assertPermitted } from './access.guard';

/**
 * Restores and data subjects' requests, shared by the REST controllers and the GraphQL
 * resolvers so both apply the same checks beyond the DTOs': restore targets inside
 * RESTORE_ROOTS and clear of open restores' targets and of sources, safe include paths, the
 * permission an access request needs, and subject ids turned into pseudonyms before anything is
 * recorded. (Sources and backups: OperatorRequests.)
 */
@Injectable()
export class ApiRequests {
  constructor(
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
    @Inject(RestoreTargets) private readonly targets: RestoreTargets,
    @Inject(SUBJECT_PSEUDONYMS) private readonly pseudonyms: SubjectPseudonyms,
  ) {}

  /**
   * What Custodia holds of a data subject (Art. 15). Looking is an access to information about a
   * person, so the lookup is recorded (SubjectDataLookedUp, an audit entry with the actor) before
   * the answer is given.
   */
  /** The same, for the subject's external id (as in its folder name): pseudonymised at once. */
  lookUpSubjectById(subjectId: string, context: CommandContext): Promise<SubjectDataView> {
    return this.lookUpSubject(this.pseudonyms.pseudonymOf(subjectId), context);
  }

  async lookUpSubject(pseudonym: string, context: CommandContext): Promise<SubjectDataView> {
    await this.commands.execute(
      new ExecuteSubjectCommand(
        { type: 'RecordLookup', subject: pseudonym, lookupId: randomUUID(), purpose: 'data subject access (GDPR Art. 15)' },
        context,
      ),
    );
    return this.queries.execute(new GetSubjectDataQuery(pseudonym));
  }

  /**
   * What a backup skipped or found changing, with the paths (GET /backups/:id/errors). File names
   * can name people, so the read is recorded first (BackupProblemsRead, an audit entry with the
   * actor and the backup, never the paths); an unknown backup is NOT_FOUND, one without a
   * snapshot NO_SNAPSHOT, and neither records anything.
   */
  async readBackupProblems(
    backupId: string,
    reason: ProblemReasonData | undefined,
    page: PageRequest,
    context: CommandContext,
  ): Promise<BackupProblemsView> {
    const result = await this.commands.execute<ExecuteBackupCommand, CommandResult<BackupState>>(
      new ExecuteBackupCommand({ type: 'RecordProblemsRead', backupId, readId: randomUUID() }, context),
    );
    const state = result.state;
    if (state.status === 'none' || state.snapshotId === null) throw new Error('a recorded read left no snapshot');
    return this.queries.execute(new GetBackupProblemsQuery(backupId, state.snapshotId, reason, page));
  }

  async requestRestore(body: RequestRestoreDto, context: CommandContext) {
    const subjectId = body.subjectId ?? undefined;
    assertPermitted(context, subjectId === undefined ? 'restores:request' : 'subjects:access');
    const include = assertSafeIncludes(body.include ?? []);
    const restoreId = randomUUID();
    // An access request (Art. 15) restores one subject's files; only its pseudonym is recorded.
    const subject = subjectId === undefined ? undefined : this.pseudonyms.pseudonymOf(subjectId);
    const purpose = body.purpose ?? (subject ? 'data subject access request (GDPR Art. 15)' : 'operational restore');
    const target = await this.targets.accept(body.target, restoreId, async (checked) => {
      await this.commands.execute(
        new ExecuteRestoreCommand(
          { type: 'RequestRestore', restoreId, backupId: body.backupId, target: checked, include, purpose, subject },
          context,
        ),
      );
      return checked;
    });
    return { id: restoreId, backupId: body.backupId, target, include, purpose, ...(subject && { subject }), status: 'requested' };
  }

  /**
   * Erasure (Art. 17). Asking again for a subject being or already erased changes nothing and
   * answers with that erasure (`repeated`).
   */
  async requestErasure(body: RequestErasureDto, context: CommandContext) {
    const subject = this.pseudonyms.pseudonymOf(body.subjectId);
    // The subject asking for itself must not put its own (personal) id in the record.
    const requestedBy = body.requestedBy.normalize('NFC') === body.subjectId.normalize('NFC') ? 'data-subject' : body.requestedBy;
    const erasureId = randomUUID();
    const result = await this.commands.execute<ExecuteSubjectCommand, CommandResult<SubjectState>>(
      new ExecuteSubjectCommand({ type: 'RequestErasure', subject, erasureId, legalBasis: body.legalBasis, requestedBy }, context),
    );
    const state = result.state;
    if (state.status === 'none') throw new Error('an erasure request left no state');
    return { id: state.erasureId, subject, status: state.status, repeated: state.erasureId !== erasureId };
  }
}
