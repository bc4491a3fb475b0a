/**
 * Backups: what the API may ask of them (BackupRequests, used by the REST controller and the
 * GraphQL resolver alike) and how a command on a backup is decided and recorded
 * (BackupCommandHandler). A recorded BackupRequested is what the jobs process manager turns
 * into a backup job (see ../jobs/backup.ts).
 */
import { Inject, Injectable } from '@nestjs/common';
import { CommandBus, CommandHandler, ICommandHandler, QueryBus } from '@nestjs/cqrs';
import { randomUUID } from 'node:crypto';
import {
  BackupCommand,
  BackupState,
  DomainError,
  ProblemReasonData,
  Streams,
  backupDecider,
  sourceDecider,
  type BackupType,
} from '../../domain';
import { AggregateStore } from '../aggregate-store';
import { CommandContext } from '../event-envelope';
import { Clock } from '../ports/clock';
import { EventStore } from '../ports/event-store';
import { BackupProblemsView, GetBackupProblemsQuery } from '../queries/backup-problems.query';
import type { PageRequest } from '../queries/catalog.queries';
import { CLOCK, EVENT_STORE } from '../tokens';
import { CommandResult, ExecuteBackupCommand } from './commands';

export interface RequestBackupInput {
  sourceId: string;
  type: BackupType;
}

/**
 * The operator's commands on backups: each records its event and answers with what was accepted
 * (the catalog shows the outcome once the projections and the worker have caught up).
 */
@Injectable()
export class BackupRequests {
  constructor(
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
  ) {}

  async requestBackup(body: RequestBackupInput, context: CommandContext) {
    const backupId = randomUUID();
    await this.commands.execute(
      new ExecuteBackupCommand({ type: 'RequestBackup', backupId, sourceId: body.sourceId, backupType: body.type }, context),
    );
    return { id: backupId, sourceId: body.sourceId, type: body.type, status: 'requested' };
  }

  async cancelBackup(id: string, reason: string | undefined, context: CommandContext) {
    // CancelBackupDto's rule, for GraphQL's bare argument too.
    if (reason !== undefined && reason.length > 500) throw new DomainError('INVALID_INPUT', 'reason must be at most 500 characters');
    await this.commands.execute(
      new ExecuteBackupCommand({ type: 'CancelBackup', backupId: id, reason: reason ?? `cancelled by ${context.actor}` }, context),
    );
    return { id, status: 'cancelled' };
  }

  async verifyBackup(id: string, context: CommandContext) {
    const verificationId = randomUUID();
    await this.commands.execute(new ExecuteBackupCommand({ type: 'VerifyBackup', backupId: id, verificationId }, context));
    return { id, verificationId, verification: 'requested' };
  }

  /**
   * Only a completed backup can be deleted; restores of it are refused from now on. A worker
   * removes the snapshot and prunes the data nothing else uses.
   */
  async deleteBackup(id: string, context: CommandContext) {
    const deletionId = randomUUID();
    await this.commands.execute(new ExecuteBackupCommand({ type: 'DeleteBackup', backupId: id, deletionId, reason: 'operator' }, context));
    return { id, deletionId, status: 'deleting' };
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
}

@CommandHandler(ExecuteBackupCommand)
export class BackupCommandHandler implements ICommandHandler<ExecuteBackupCommand, CommandResult<BackupState>> {
  private readonly aggregates: AggregateStore;

  constructor(
    @Inject(EVENT_STORE) events: EventStore,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {
    this.aggregates = new AggregateStore(events);
  }

  async execute({ command, context }: ExecuteBackupCommand): Promise<CommandResult<BackupState>> {
    const at = this.clock.now().toISOString();
    let full: BackupCommand;
    if (command.type === 'RequestBackup') {
      // The decision needs to know whether the source exists and is active.
      const { state: source } = await this.aggregates.load(sourceDecider, Streams.source(command.sourceId));
      if (source.status === 'none') throw new DomainError('NOT_FOUND', `source ${command.sourceId} does not exist`);
      full = { ...command, sourceActive: source.status === 'active', at };
    } else {
      full = { ...command, at } as BackupCommand;
    }
    return this.aggregates.execute(backupDecider, Streams.backup(command.backupId), full, context, at);
  }
}
