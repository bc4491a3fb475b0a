#!/usr/bin/env node
import '../threadpool';
import { Command, CommanderError } from 'commander';
import { isEngineError } from '../engine';
import { ApiCallError } from './api-client';
import { registerApiCommands } from './api-commands';
import { registerEngineCommands } from './engine-commands';
import { registerServiceCommands } from './service-commands';

/**
 * The `custodia` command. Errors a user can cause are printed as one line with a stable code
 * (`custodia: error [CODE]: message`) and a non-zero exit code; a stack trace is printed only
 * for an unexpected failure when CUSTODIA_DEBUG is set.
 */
async function main(argv: string[]): Promise<void> {
  const program = new Command('custodia')
    .description('Custodia: encrypted, deduplicated backups of personal data')
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError(false);
  registerEngineCommands(program);
  registerServiceCommands(program);
  registerApiCommands(program);
  await program.parseAsync(argv);
}

main(process.argv).catch((error: unknown) => {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? 0 : 2;
    return;
  }
  if (error instanceof Error && error.name === 'ConfigurationError') {
    process.stderr.write(`custodia: error [CONFIGURATION]: ${error.message}\n`);
    process.exitCode = 2;
    return;
  }
  if (isEngineError(error) || error instanceof ApiCallError) {
    process.stderr.write(`custodia: error [${error.code}]: ${error.message}\n`);
    process.exitCode = error.exitCode;
    return;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`custodia: error [INTERNAL]: ${message}\n`);
  if (process.env.CUSTODIA_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  process.exitCode = 1;
});
