import { Command } from 'commander';
import type * as EmbeddedModuleFile from '../infrastructure/embedded.module';
import type * as ConfigurationFile from '../infrastructure/config/configuration';
import type * as EventStoreFile from '../infrastructure/event-store/sqlite-event-store';
import type * as ReadModelFile from '../infrastructure/persistence/sqlite-read-model';
import type * as MainFile from '../main';

/* eslint-disable @typescript-eslint/no-require-imports -- loaded on demand, see below */

/**
 * Commands of the orchestration service. They load Nest and the adapters lazily, so the engine
 * commands stay quick to start.
 */
export function registerServiceCommands(program: Command): void {
  program
    .command('serve')
    .description('run the service (API, sagas, projections and an in-process worker) on embedded defaults')
    .action(async () => {
      const { serve } = require('../main') as typeof MainFile;
      await serve();
    });

  const projections = program.command('projections').description('maintain the read models');
  projections
    .command('rebuild')
    .description('replay the whole event log into empty read models (run it while the service is stopped)')
    .action(async () => {
      const { loadConfiguration } = require('../infrastructure/config/configuration') as typeof ConfigurationFile;
      const { eventStoreFile, readModelFile, projectionsFor } = require('../infrastructure/embedded.module') as typeof EmbeddedModuleFile;
      const { SqliteEventStore } = require('../infrastructure/event-store/sqlite-event-store') as typeof EventStoreFile;
      const { openSqliteReadModel } = require('../infrastructure/persistence/sqlite-read-model') as typeof ReadModelFile;
      const config = loadConfiguration();
      const events = new SqliteEventStore(eventStoreFile(config));
      const db = await openSqliteReadModel(readModelFile(config));
      try {
        const { events: count } = await projectionsFor(events, db).rebuild();
        console.log(`projections rebuilt from ${count} event(s) in ${config.dataDir}`);
      } finally {
        await db.destroy();
        await events.close();
      }
    });
}
