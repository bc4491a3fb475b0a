import { CqrsModule, CommandBus } from '@nestjs/cqrs';
import { Test, TestingModule } from '@nestjs/testing';
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { BackupCommandHandler } from '../../src/application/commands/backups';
import { ExecuteBackupCommand } from '../../src/application/commands/commands';
import { toNewEvents, userContext } from '../../src/application/event-envelope';
import { Clock } from '../../src/application/ports/clock';
import { RecordedEvent } from '../../src/application/ports/event-store';
import { BackupCatalogProjection } from '../../src/application/projections/backup-catalog.projection';
import { ProjectionRunner } from '../../src/application/projections/projection-runner';
import { ReadModel } from '../../src/application/projections/read-model';
import { SourcesProjection } from '../../src/application/projections/sources.projection';
import { CLOCK, EVENT_STORE } from '../../src/application/tokens';
import { DomainEvent, Streams } from '../../src/domain';
import { SqliteEventStore } from '../../src/infrastructure/event-store/sqlite-event-store';
import { openSqliteReadModel } from '../../src/infrastructure/persistence/sqlite-read-model';

export const DAY_MS = 24 * 60 * 60 * 1000;

/** A clock the test sets: commands stamp their events with it, the schedulers read "now" from it. */
export class TestClock implements Clock {
  constructor(public current: Date) {}
  now(): Date {
    return new Date(this.current.getTime());
  }
  set(at: Date | string): void {
    this.current = new Date(at);
  }
}

const STATISTICS = {
  files: 1,
  directories: 0,
  bytesRead: 1,
  totalBytes: 1,
  newBytes: 1,
  storedBytes: 1,
  duplicateBytes: 0,
  chunks: 1,
  durationMs: 1,
  errors: 0,
};

/**
 * The control plane's real parts, in process: the SQLite event store, the backup command handler
 * on a Nest CommandBus, and the sources and backup-catalog projections into a SQLite read model.
 * The projections only move when sync() is called, so a test decides when the read model lags.
 */
export class CatalogHarness {
  readonly commands: CommandBus;
  private runner: ProjectionRunner;

  private constructor(
    readonly events: SqliteEventStore,
    readonly db: ReadModel,
    readonly clock: TestClock,
    private readonly module: TestingModule,
  ) {
    this.commands = module.get(CommandBus);
    this.runner = this.newRunner();
  }

  static async open(dir: string, now: Date): Promise<CatalogHarness> {
    const events = await SqliteEventStore.open(path.join(dir, 'events.db'));
    const db = await openSqliteReadModel(path.join(dir, 'readmodel.db'));
    const clock = new TestClock(now);
    const module = await Test.createTestingModule({
      imports: [CqrsModule.forRoot()],
      providers: [BackupCommandHandler, { provide: EVENT_STORE, useValue: events }, { provide: CLOCK, useValue: clock }],
    }).compile();
    await module.init();
    return new CatalogHarness(events, db, clock, module);
  }

  async close(): Promise<void> {
    await this.runner.stop();
    await this.module.close();
    await this.db.destroy();
    await this.events.close();
  }

  private newRunner(): ProjectionRunner {
    // The poll interval is long: the projections run only while sync() waits for them.
    return new ProjectionRunner(this.events, this.db, [new SourcesProjection(), new BackupCatalogProjection()], 60 * 60 * 1000, 0);
  }

  /** Brings the read model up to the end of the log, then leaves it there. */
  async sync(): Promise<void> {
    const head = await this.headPosition();
    this.runner.start();
    await this.runner.waitFor(head);
    await this.runner.stop();
    this.runner = this.newRunner();
  }

  async headPosition(): Promise<number> {
    let position = 0;
    for (;;) {
      const page = await this.events.readAll(position, 500);
      if (page.length === 0) return position;
      position = page[page.length - 1].position;
    }
  }

  /** Every event after `position`. */
  async eventsAfter(position: number): Promise<RecordedEvent[]> {
    return this.events.readAll(position, 1_000_000);
  }

  private async appendSourceEvent(sourceId: string, event: DomainEvent): Promise<void> {
    await this.events.append(
      Streams.source(sourceId),
      toNewEvents([event], userContext('operator'), this.clock.now().toISOString()),
      'any',
    );
  }

  async registerSource(sourceId = randomUUID()): Promise<string> {
    const at = this.clock.now().toISOString();
    await this.appendSourceEvent(sourceId, { type: 'SourceRegistered', data: { sourceId, name: sourceId, path: `/data/${sourceId}`, at } });
    return sourceId;
  }

  async removeSource(sourceId: string): Promise<void> {
    await this.appendSourceEvent(sourceId, { type: 'SourceRemoved', data: { sourceId, at: this.clock.now().toISOString() } });
  }

  backup(command: ExecuteBackupCommand['command'], actor = 'operator'): Promise<unknown> {
    return this.commands.execute(new ExecuteBackupCommand(command, userContext(actor)));
  }

  /** A backup requested and started, finishing at `finishedAt` as `outcome`. */
  async finishedBackup(sourceId: string, finishedAt: Date | string, outcome: 'completed' | 'failed' = 'completed'): Promise<string> {
    const backupId = randomUUID();
    const jobId = `backup-${backupId}`;
    const saved = this.clock.now();
    this.clock.set(new Date(new Date(finishedAt).getTime() - 1000));
    await this.backup({ type: 'RequestBackup', backupId, sourceId, backupType: 'full' });
    await this.backup({ type: 'StartBackup', backupId, jobId, attempt: 1 });
    this.clock.set(finishedAt);
    if (outcome === 'completed') {
      await this.backup({
        type: 'CompleteBackup',
        backupId,
        jobId,
        snapshotId: randomUUID().replace(/-/g, ''),
        merkleRoot: 'ab'.repeat(32),
        statistics: STATISTICS,
      });
    } else {
      await this.backup({ type: 'FailBackup', backupId, jobId, code: 'IO_ERROR', reason: 'disk', retryable: false });
    }
    this.clock.set(saved);
    return backupId;
  }

  /** Asks for a verification of the backup at `at`, and records it verified when `verifiedAt` is given. */
  async verification(backupId: string, at: Date | string, verifiedAt?: Date | string): Promise<void> {
    const saved = this.clock.now();
    const verificationId = randomUUID();
    this.clock.set(at);
    await this.backup({ type: 'VerifyBackup', backupId, verificationId });
    if (verifiedAt !== undefined) {
      this.clock.set(verifiedAt);
      await this.backup({ type: 'RecordVerification', backupId, verificationId, outcome: 'verified', blobsChecked: 1, bytesChecked: 1 });
    }
    this.clock.set(saved);
  }
}

/** `days` days before `from`. */
export function daysBefore(from: Date, days: number, extraMs = 0): Date {
  return new Date(from.getTime() - days * DAY_MS + extraMs);
}
