import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SqliteEventStore } from '../../src/infrastructure/event-store/sqlite-event-store';
import { openSqliteReadModel } from '../../src/infrastructure/persistence/sqlite-read-model';
import { readModelContract } from '../contract/read-model.contract';

/** A read-model file and an event store in a folder of the test's own, removed afterwards. */
readModelContract('SQLite read model', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-read-model-'));
  const events = await SqliteEventStore.open(path.join(dir, 'events.sqlite'));
  const open = () => openSqliteReadModel(path.join(dir, 'readmodel.sqlite'));
  return {
    events,
    db: await open(),
    reopen: open,
    cleanup: async () => {
      await events.close();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
});
