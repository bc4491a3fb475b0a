import { Command } from 'commander';
import type * as AuditChainFile from '../application/projections/audit-chain';
import type * as AdaptersFile from '../infrastructure/adapters';
import type * as ServiceModuleFile from '../infrastructure/service.module';
import type * as ConfigurationFile from '../infrastructure/config/configuration';
import type * as MainFile from '../main';
import { isRole, ROLES } from '../application/access-control';
import { EngineError } from '../engine';
import { appendToPrivateFile } from '../infrastructure/config/file-permissions';
import { ACTOR_NAME, newApiToken } from '../infrastructure/http/api-tokens';

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
      const config = loadConfiguration(process.env, { api: false });
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

  program
    .command('audit')
    .description('the GDPR audit trail')
    .command('verify')
    .description("recompute the audit trail's hash chain in the read model; exit 1 when it is broken")
    .option('--json', 'print the result as JSON')
    .action(async (flags: { json?: boolean }) => {
      const { loadConfiguration } = require('../infrastructure/config/configuration') as typeof ConfigurationFile;
      const { openReadModel } = require('../infrastructure/adapters') as typeof AdaptersFile;
      const { verifyAuditTrail } = require('../application/projections/audit-chain') as typeof AuditChainFile;
      const db = await openReadModel(loadConfiguration(process.env, { api: false }));
      try {
        const result = await verifyAuditTrail(db);
        if (flags.json) console.log(JSON.stringify(result));
        else if (result.valid) console.log(`audit trail valid: ${result.entries} entries`);
        else console.log(`audit trail BROKEN at entry ${result.firstBrokenEntry} of ${result.entries}`);
        // A result, not an error (like `check` finding damage): exit code 1, output on stdout.
        if (!result.valid) process.exitCode = 1;
      } finally {
        await db.destroy();
      }
    });

  program
    .command('token')
    .description('API bearer tokens (CUSTODIA_API_TOKENS_FILE)')
    .command('create')
    .description('create a token for one actor and role; the tokens file keeps only its SHA-256')
    .requiredOption('--actor <name>', 'who the token belongs to, as the audit trail will name them (e.g. dpo:jane)')
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
    .option('--file <path>', 'append the line to this tokens file (kept 0600; refused when others may write it) and print only the token')
    .action((flags: { actor: string; role: string; file?: string }) => {
      if (!ACTOR_NAME.test(flags.actor)) {
        throw new EngineError('INVALID_ARGUMENT', '--actor may hold letters, digits and . _ : @ - only (at most 100)');
      }
      if (!isRole(flags.role)) throw new EngineError('INVALID_ARGUMENT', `--role must be one of ${ROLES.join(', ')}`);
      const { token, line } = newApiToken(flags.actor, flags.role);
      if (flags.file) {
        // A file whose last line has no newline would otherwise get this line glued to it.
        appendToPrivateFile(flags.file, (before) => `${before === '' || before.endsWith('\n') ? '' : '\n'}${line}\n`);
        console.log(token);
        process.stderr.write(
          `token for ${flags.actor} (${flags.role}) added to ${flags.file}; it is shown only now, and a running service takes it within a second\n`,
        );
      } else {
        console.log(`token: ${token}`);
        console.log(`line for CUSTODIA_API_TOKENS_FILE: ${line}`);
      }
    });
}
