/**
 * Data subjects: their requests (SubjectRequests: access under Art. 15 and erasure under Art. 17,
 * used by the REST controller and the GraphQL resolver alike) and how a command on a subject is
 * decided and recorded (SubjectCommandHandler). Subject ids become pseudonyms here, before
 * anything is recorded.
 */
import { Inject, Injectable } from '@nestjs/common';
import { CommandBus, CommandHandler, ICommandHandler, QueryBus } from '@nestjs/cqrs';
import { randomUUID } from 'node:crypto';
import { Streams, SubjectCommand, SubjectState, subjectDecider } from '../../domain';
import { AggregateStore } from '../aggregate-store';
import { CommandContext } from '../event-envelope';
import { Clock } from '../ports/clock';
import { EventStore } from '../ports/event-store';
import { SubjectPseudonyms } from '../ports/pseudonyms';
import { GetSubjectDataQuery, SubjectDataView } from '../queries/subject.queries';
import { CLOCK, EVENT_STORE, SUBJECT_PSEUDONYMS } from '../tokens';
import { CommandResult, ExecuteSubjectCommand } from './commands';

export interface RequestErasureInput {
  subjectId: string;
  /** Why the data must be erased, e.g. "GDPR Art. 17(1)(b): consent withdrawn". */
  legalBasis: string;
  /** Who asked: a role or staff id (e.g. dpo:jane), or data-subject. */
  requestedBy: string;
}

@Injectable()
export class SubjectRequests {
  constructor(
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
    @Inject(SUBJECT_PSEUDONYMS) private readonly pseudonyms: SubjectPseudonyms,
  ) {}

  /** lookUpSubject, for the subject's external id (as in its folder name): pseudonymised at once. */
  lookUpSubjectById(subjectId: string, context: CommandContext): Promise<SubjectDataView> {
    return this.lookUpSubject(this.pseudonyms.pseudonymOf(subjectId), context);
  }

  /**
   * What Custodia holds of a data subject (Art. 15). Looking is an access to information about a
   * person, so the lookup is recorded (SubjectDataLookedUp, an audit entry with the actor) before
   * the answer is given.
   */
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
   * Erasure (Art. 17). Asking again for a subject being or already erased changes nothing and
   * answers with that erasure (`repeated`).
   */
  async requestErasure(body: RequestErasureInput, context: CommandContext) {
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

@CommandHandler(ExecuteSubjectCommand)
export class SubjectCommandHandler implements ICommandHandler<ExecuteSubjectCommand, CommandResult<SubjectState>> {
  private readonly aggregates: AggregateStore;

  constructor(
    @Inject(EVENT_STORE) events: EventStore,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {
    this.aggregates = new AggregateStore(events);
  }

  execute({ command, context }: ExecuteSubjectCommand): Promise<CommandResult<SubjectState>> {
    const at = this.clock.now().toISOString();
    return this.aggregates.execute(subjectDecider, Streams.subject(command.subject), { ...command, at } as SubjectCommand, context, at);
  }
}
