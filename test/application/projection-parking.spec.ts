import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Transaction } from 'kysely';
import { toNewEvents, userContext } from '../../src/application/event-envelope';
import { RecordedEvent } from '../../src/application/ports/event-store';
import { Projection } from '../../src/application/projections/projection';
import { ProjectionRunner } from '../../src/application/projections/projection-runner';
import { ReadModel, ReadModelDatabase } from '../../src/application/projections/read-model';
import { SourcesProjection } from '../../src/application/projections/sources.projection';
import { GetProjectionStatusHandler } from '../../src/application/queries/projection-status.query';
import { DomainEvent } from '../../src/domain';
import { SqliteEventStore } from '../../src/infrastructure/event-store/sqlite-event-store';
import { openSqliteReadModel } from '../../src/infrastructure/persistence/sqlite-read-model';

/** A projection with a bug: it cannot handle SourceRemoved. */
class FragileSourcesProjection implements Projection {
  readonly name = 'fragile-sources';
  readonly tables: (keyof ReadModelDatabase)[] = [];
  /** In memory, so not rolled back with a failed batch: a set of what was ever applied. */
  readonly seen = new Set<string>();

  async apply(_trx: Transaction<ReadModelDatabase>, event: RecordedEvent): Promise<void> {
    if (event.type === 'SourceRemoved') throw new TypeError('cannot read properties of undefined');
    this.seen.add(`${event.type}:${(event.data as { sourceId: string }).sourceId}`);
  }
}

/**
 * A projection that cannot apply one event must not stop for good: after retries, the event is
 * parked (recorded and stepped over) and the events after it are projected; other projections
 * are not affected at all.
 */
describe('projections step over an event they cannot apply', () => {
  let dir: string;
  let events: SqliteEventStore;
  let db: ReadModel;
  let runner: ProjectionRunner;

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-parking-'));
    events = await SqliteEventStore.open(path.join(dir, 'events.db'));
    db = await openSqliteReadModel(path.join(dir, 'readmodel.db'));
  });

  afterEach(async () => {
    await runner?.stop();
    await db.destroy();
    await events.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const append = async (stream: string, event: DomainEvent) =>
    (await events.append(stream, toNewEvents([event], userContext('operator'), '2030-01-01T00:00:00.000Z'), 'any')).position;

  it('parks the poison event, projects the ones after it, and reports it', async () => {
    const at = '2030-01-01T00:00:00.000Z';
    await append('source-a', { type: 'SourceRegistered', data: { sourceId: 'a', name: 'a', path: '/a', at } });
    const poison = await append('source-a', { type: 'SourceRemoved', data: { sourceId: 'a', at } });
    const last = await append('source-b', { type: 'SourceRegistered', data: { sourceId: 'b', name: 'b', path: '/b', at } });

    const fragile = new FragileSourcesProjection();
    runner = new ProjectionRunner(events, db, [fragile, new SourcesProjection()], 20, 10);
    runner.start();
    await runner.waitFor(Number(last));

    expect([...fragile.seen].sort()).toEqual(['SourceRegistered:a', 'SourceRegistered:b']);
    expect(
      (await db.selectFrom('sources').select(['id', 'status']).orderBy('id').execute()).map((row) => `${row.id}:${row.status}`),
    ).toEqual(['a:removed', 'b:active']);
    const status = await new GetProjectionStatusHandler(db, runner).execute();
    expect(status).toEqual([
      {
        name: 'fragile-sources',
        position: Number(last),
        parked: [
          {
            position: Number(poison),
            eventId: expect.any(String),
            eventType: 'SourceRemoved',
            error: 'TypeError',
            parkedAt: expect.any(String),
          },
        ],
      },
      { name: 'sources', position: Number(last), parked: [] },
    ]);
  });
});
