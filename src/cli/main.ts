#!/usr/bin/env node
import '../threadpool';
import { Command, CommanderError } from 'commander';
import { isEngineError } from '../engine';
import { ApiCallError } from './api-client';
import { registerApiCommands } from './api-commands';
import { registerEngineCommands } from './engine-commands';
import { registerServiceCommands } from './service-commands';
import { CLOSED_PIPE_EXIT_CODE, isStdoutClosed, watchStdout } from './output';

/**
 * The `custodia` command. Errors a user can cause are printed as one line with a stable code
 * (`custodia: error [CODE]: message`) and a non-zero exit code; a stack trace is printed only
 * for an unexpected failure when CUSTODIA_DEBUG is set.
 */
async function main(argv: string[]): Promise<void> {
  // A reader that stops reading (`| head`) ends the command quietly: see exitQuietlyIfPipeClosed.
  watchStdout();
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

/**
 * Once standard output's reader is gone, the command ends with CLOSED_PIPE_EXIT_CODE and says
 * nothing more: a backup was stopped as by Ctrl-C (no snapshot written, the lock released),
 * or had finished and only its output was lost.
 */
function exitQuietlyIfPipeClosed(): boolean {
  if (!isStdoutClosed()) return false;
  process.exitCode = CLOSED_PIPE_EXIT_CODE;
  return true;
}

main(process.argv).then(exitQuietlyIfPipeClosed, (error: unknown) => {
  if (exitQuietlyIfPipeClosed()) return;
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
