import { Inject, Injectable, Logger } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { randomUUID } from 'node:crypto';
import { retentionCutoffs, RetentionPolicy } from '../../domain';
import { executeUnlessMovedOn, ExecuteBackupCommand } from '../commands/commands';
import { userContext } from '../event-envelope';
import { Clock } from '../ports/clock';
import { ReadModel } from '../projections/read-model';
import { CLOCK, READ_MODEL, RETENTION_POLICY } from '../tokens';

const ACTOR = 'system:retention';
/** Deletions asked for per run: a backlog (a policy shortened) drains over a few runs. */
const BATCH = 100;

/**
 * Storage limitation (GDPR Art. 5(1)(e)): every completed backup past its archive period is
 * deleted through the DeleteBackup command an operator would use, so each deletion is an event,
 * a job (the worker removes the snapshot and prunes) and an audit entry, by `system:retention`.
 * Nothing happens when the policy keeps expired backups (deleteExpired false).
 */
@Injectable()
export class RetentionEnforcer {
  private readonly logger = new Logger(RetentionEnforcer.name);

  constructor(
    private readonly commands: CommandBus,
    @Inject(READ_MODEL) private readonly db: ReadModel,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(RETENTION_POLICY) private readonly policy: RetentionPolicy,
  ) {}

  /** Requests the deletion of expired backups; returns the backups it asked to delete. */
  async deleteExpired(): Promise<string[]> {
    if (!this.policy.deleteExpired) return [];
    const { archivedSince } = retentionCutoffs(this.clock.now(), this.policy);
    const expired = await this.db
      .selectFrom('backups')
      .select('id')
      .where('status', '=', 'completed')
      .where('verification_status', '!=', 'requested')
      .where('finished_at', '<=', archivedSince)
      .orderBy('finished_at')
      .limit(BATCH)
      .execute();
    const requested: string[] = [];
    for (const { id } of expired) {
      const command = { type: 'DeleteBackup' as const, backupId: id, deletionId: randomUUID(), reason: 'retention' as const };
      // Refused when being verified or deleted already (the read model lags the log): next run.
      if (await executeUnlessMovedOn(this.commands, new ExecuteBackupCommand(command, userContext(ACTOR)))) requested.push(id);
    }
    if (requested.length > 0) this.logger.log(`requested the deletion of ${requested.length} expired backup(s)`);
    return requested;
  }
}
