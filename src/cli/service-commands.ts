import { Command } from 'commander';
import type * as AdaptersFile from '../infrastructure/adapters';
import type * as ServiceModuleFile from '../infrastructure/service.module';
import type * as ConfigurationFile from '../infrastructure/config/configuration';
import type * as MainFile from '../main';

/* eslint-disable @typescript-eslint/no-require-imports -- loaded on demand, see below */

/**
 * Commands of the orchestration service. They load Nest and the adapters lazily, so the engine
 * commands stay quick to start.
 */
export function registerServiceCommands(program: Command): void {
  program
    .command('serve')
    .description('run the control plane (API, sagas, projections; and the worker with the in-process bus)')
    .action(async () => {
      const { serve, exitOnStartupFailure } = require('../main') as typeof MainFile;
      await serve().catch(exitOnStartupFailure);
    });

  program
    .command('worker')
    .description('run a worker process that takes jobs from Kafka (BUS=kafka)')
    .action(async () => {
      const { work, exitOnStartupFailure } = require('../main') as typeof MainFile;
      await work().catch(exitOnStartupFailure);
    });

  const projections = program.command('projections').description('maintain the read models');
  projections
    .command('rebuild')
    .description('replay the whole event log into empty read models (run it while the service is stopped)')
    .action(async () => {
      const { loadConfiguration } = require('../infrastructure/config/configuration') as typeof ConfigurationFile;
      const { openEventStore, openReadModel } = require('../infrastructure/adapters') as typeof AdaptersFile;
      const { projectionsFor } = require('../infrastructure/service.module') as typeof ServiceModuleFile;
      const config = loadConfiguration();
      const events = await openEventStore(config);
      const db = await openReadModel(config);
      try {
        const { events: count } = await projectionsFor(events, db).rebuild();
        console.log(`projections rebuilt from ${count} event(s) (event store ${config.eventStore})`);
      } finally {
        await db.destroy();
        await events.close();
      }
    });
}
