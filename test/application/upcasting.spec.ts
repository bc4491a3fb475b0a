import { randomUUID } from 'node:crypto';
import { AggregateStore } from '../../src/application/aggregate-store';
import { userContext } from '../../src/application/event-envelope';
import { NewEvent } from '../../src/application/ports/event-store';
import { ProjectionRunner } from '../../src/application/projections/projection-runner';
import { ReadModel } from '../../src/application/projections/read-model';
import { SourcesProjection } from '../../src/application/projections/sources.projection';
import { UpcastingEventStore } from '../../src/application/upcasting-event-store';
import { EVENT_SCHEMA_VERSION, sourceDecider, Streams, UnreadableEventVersionError, UpcasterRegistry } from '../../src/domain';
import { SqliteEventStore } from '../../src/infrastructure/event-store/sqlite-event-store';
import { openSqliteReadModel } from '../../src/infrastructure/persistence/sqlite-read-model';

const AT = '2030-01-01T00:00:00.000Z';

/**
 * Suppose SourceRegistered once had `label` and `folder` (version 1) and now has `name` and
 * `path` (version 2, today's shape). The log keeps the version 1 events it was given; with the
 * upcaster, the decider and the projection read both versions as version 2.
 */
const SOURCE_REGISTERED_V2 = new UpcasterRegistry({ ...EVENT_SCHEMA_VERSION, SourceRegistered: 2 }, [
  {
    type: 'SourceRegistered',
    from: 1,
    upcast: (data) => {
      const { label, folder, ...rest } = data as { label: string; folder: string };
      return { ...rest, name: label, path: folder };
    },
  },
]);

function sourceRegistered(schemaVersion: number, data: Record<string, unknown>): NewEvent {
  return {
    id: randomUUID(),
    type: 'SourceRegistered',
    schemaVersion,
    occurredAt: AT,
    data: { ...data, at: AT },
    metadata: { correlationId: randomUUID(), causationId: null, actor: 'operator' },
  };
}

describe('events stored at an older schema version, read through the upcasters', () => {
  let raw: SqliteEventStore;
  let events: UpcastingEventStore;
  let db: ReadModel;

  beforeEach(async () => {
    raw = await SqliteEventStore.open(':memory:');
    events = new UpcastingEventStore(raw, SOURCE_REGISTERED_V2);
    db = await openSqliteReadModel(':memory:');
    await raw.append(Streams.source('old'), [sourceRegistered(1, { sourceId: 'old', label: 'Old', folder: '/data/old' })], 'no-stream');
    await raw.append(Streams.source('new'), [sourceRegistered(2, { sourceId: 'new', name: 'New', path: '/data/new' })], 'no-stream');
  });

  afterEach(async () => {
    await db.destroy();
    await events.close();
  });

  it('folds a v1 and a v2 event through the decider alike, and decides on the upcast state', async () => {
    const aggregates = new AggregateStore(events);

    const old = await aggregates.load(sourceDecider, Streams.source('old'));
    const current = await aggregates.load(sourceDecider, Streams.source('new'));

    expect(old.state).toMatchObject({ status: 'active', sourceId: 'old', name: 'Old', path: '/data/old' });
    expect(current.state).toMatchObject({ status: 'active', sourceId: 'new', name: 'New', path: '/data/new' });
    const renamed = await aggregates.execute(
      sourceDecider,
      Streams.source('old'),
      { type: 'UpdateSource', sourceId: 'old', name: 'Renamed', at: AT },
      userContext('operator'),
      AT,
    );
    expect(renamed.state).toMatchObject({ name: 'Renamed', path: '/data/old' });
    // The stored event is not edited: the log still holds version 1.
    expect((await raw.readStream(Streams.source('old')))[0]).toMatchObject({ schemaVersion: 1, data: { label: 'Old' } });
  });

  it('projects a v1 and a v2 event alike from the global log', async () => {
    await new ProjectionRunner(events, db, [new SourcesProjection()]).rebuild();

    const rows = await db.selectFrom('sources').select(['id', 'name', 'path']).orderBy('id').execute();
    expect(rows).toEqual([
      { id: 'new', name: 'New', path: '/data/new' },
      { id: 'old', name: 'Old', path: '/data/old' },
    ]);
    expect((await events.readAll(0, 10)).map((event) => event.schemaVersion)).toEqual([2, 2]);
  });

  it('refuses to read an event of a version newer than this build knows', async () => {
    await raw.append(Streams.source('future'), [sourceRegistered(3, { sourceId: 'future', title: 'Future' })], 'no-stream');

    await expect(events.readStream(Streams.source('future'))).rejects.toThrow(UnreadableEventVersionError);
    await expect(new AggregateStore(events).load(sourceDecider, Streams.source('future'))).rejects.toThrow(/schema version 3/);
  });
});
