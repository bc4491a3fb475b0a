import { Inject, Injectable, Logger } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { randomUUID } from 'node:crypto';
import { RetentionPolicy, restoreTestDue, retentionStatus } from '../../domain';
import { executeUnlessMovedOn, ExecuteBackupCommand } from '../commands/commands';
import { userContext } from '../event-envelope';
import { Clock } from '../ports/clock';
import { ReadModel } from '../projections/read-model';
import { CLOCK, READ_MODEL, RETENTION_POLICY } from '../tokens';

const ACTOR = 'system:restore-tests';

/**
 * Automatic restore tests: the newest completed backup of each active source, while it is still
 * within retention, is verified (every blob read back, authenticated and hash-checked, as a
 * restore would) once per `restoreTestIntervalDays`. It asks through the same VerifyBackup
 * command an operator would, so the test is an event, a job and an audit entry like any other;
 * the backup aggregate refuses a second verification while one is pending.
 */
@Injectable()
export class RestoreTestScheduler {
  private readonly logger = new Logger(RestoreTestScheduler.name);

  constructor(
    private readonly commands: CommandBus,
    @Inject(READ_MODEL) private readonly db: ReadModel,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(RETENTION_POLICY) private readonly policy: RetentionPolicy,
  ) {}

  /** Requests the restore tests that are due; returns the backups it asked to test. */
  async requestDueTests(): Promise<string[]> {
    if (this.policy.restoreTestIntervalDays <= 0) return [];
    const now = this.clock.now();
    // The newest completed backup of each active source.
    const newest = await this.db
      .selectFrom('backups')
      .innerJoin('sources', 'sources.id', 'backups.source_id')
      .select(['backups.id', 'backups.source_id', 'backups.finished_at', 'backups.verification_status', 'backups.verified_at'])
      .where('backups.status', '=', 'completed')
      .where('sources.status', '=', 'active')
      .where('backups.finished_at', '=', (eb) =>
        eb
          .selectFrom('backups as later')
          .select((inner) => inner.fn.max('later.finished_at').as('newest'))
          .whereRef('later.source_id', '=', 'backups.source_id')
          .where('later.status', '=', 'completed'),
      )
      .orderBy('backups.finished_at', 'desc')
      .execute();
    const requested: string[] = [];
    const seen = new Set<string>();
    for (const backup of newest) {
      if (seen.has(backup.source_id)) continue;
      seen.add(backup.source_id);
      if (!backup.finished_at || retentionStatus(backup.finished_at, now, this.policy).phase === 'expired') continue;
      if (backup.verification_status === 'requested' || !restoreTestDue(backup.verified_at, now, this.policy)) continue;
      const command = { type: 'VerifyBackup' as const, backupId: backup.id, verificationId: randomUUID() };
      // Refused when already being verified (the read model lags the log): nothing to do this time.
      if (await executeUnlessMovedOn(this.commands, new ExecuteBackupCommand(command, userContext(ACTOR)))) requested.push(backup.id);
    }
    if (requested.length > 0) this.logger.log(`requested ${requested.length} restore test(s)`);
    return requested;
  }
}
