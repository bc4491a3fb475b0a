/**
 * Restores: what the API may ask (RestoreRequests, used by the REST controller and the GraphQL
 * resolver alike) and how a restore command is decided and recorded (RestoreCommandHandler). A
 * recorded RestoreRequested is what the jobs process manager turns into a restore job.
 */
import { Inject, Injectable } from '@nestjs/common';
import { CommandBus, CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { randomUUID } from 'node:crypto';
import { DomainError, RestoreCommand, RestoreState, Streams, backupDecider, restoreDecider } from '../../domain';
import { assertRoleGrants } from '../access-control';
import { AggregateStore } from '../aggregate-store';
import { CommandContext } from '../event-envelope';
import { Clock } from '../ports/clock';
import { EventStore } from '../ports/event-store';
import { SubjectPseudonyms } from '../ports/pseudonyms';
import { RestoreTargetGate } from '../ports/restore-target-gate';
import { CLOCK, EVENT_STORE, RESTORE_TARGET_GATE, SUBJECT_PSEUDONYMS } from '../tokens';
import { CommandResult, ExecuteRestoreCommand } from './commands';

export interface RequestRestoreInput {
  backupId: string;
  target: string;
  include?: string[];
  purpose?: string;
  /** An access request (Art. 15): restore only this data subject's files. */
  subjectId?: string | null;
}

/**
 * A restore request, with the checks beyond the input's shape: the target admitted by the
 * gate (inside RESTORE_ROOTS, clear of open restores' targets and of sources), safe include
 * paths, the permission an access request needs, and the subject id turned into a pseudonym
 * before anything is recorded.
 */
@Injectable()
export class RestoreRequests {
  constructor(
    private readonly commands: CommandBus,
    @Inject(RESTORE_TARGET_GATE) private readonly targets: RestoreTargetGate,
    @Inject(SUBJECT_PSEUDONYMS) private readonly pseudonyms: SubjectPseudonyms,
  ) {}

  async requestRestore(body: RequestRestoreInput, context: CommandContext) {
    const subjectId = body.subjectId ?? undefined;
    assertRoleGrants(context.role, subjectId === undefined ? 'restores:request' : 'subjects:access');
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
}

/** Include paths are relative to the snapshot: none may climb out of it. */
export function assertSafeIncludes(include: string[]): string[] {
  for (const item of include) {
    const parts = item.split('/').filter((part) => part !== '' && part !== '.');
    if (parts.includes('..') || item.includes('\0')) throw new DomainError('INVALID_INPUT', 'include paths must not contain ".."');
  }
  return include;
}

@CommandHandler(ExecuteRestoreCommand)
export class RestoreCommandHandler implements ICommandHandler<ExecuteRestoreCommand, CommandResult<RestoreState>> {
  private readonly aggregates: AggregateStore;

  constructor(
    @Inject(EVENT_STORE) events: EventStore,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {
    this.aggregates = new AggregateStore(events);
  }

  async execute({ command, context }: ExecuteRestoreCommand): Promise<CommandResult<RestoreState>> {
    const at = this.clock.now().toISOString();
    let full: RestoreCommand;
    if (command.type === 'RequestRestore') {
      // The decision needs the backup's status and snapshot.
      const { state: backup } = await this.aggregates.load(backupDecider, Streams.backup(command.backupId));
      full = {
        ...command,
        backup:
          backup.status === 'none'
            ? { status: 'none' }
            : { status: backup.status, sourceId: backup.sourceId, snapshotId: backup.snapshotId },
        at,
      };
    } else {
      full = { ...command, at } as RestoreCommand;
    }
    return this.aggregates.execute(restoreDecider, Streams.restore(command.restoreId), full, context, at);
  }
}
