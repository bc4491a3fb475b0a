import './threadpool';
import 'reflect-metadata';
import { INestApplicationContext, Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ConfigurationError, loadConfiguration } from './infrastructure/config/configuration';
import { ServiceRepositoryProvider } from './infrastructure/repository/service-repository.provider';
import { openJobBus } from './infrastructure/adapters';
import { openAdapters, ServiceModule, WorkerModule } from './infrastructure/service.module';
import { configureHttpApplication } from './infrastructure/http/body-limits';

/**
 * `npm start` / `custodia serve`: the control plane (API, sagas, projections), plus the worker
 * when the bus is in-process, which is the embedded default (see README).
 */
export async function serve(): Promise<void> {
  const logger = new Logger('Custodia');
  const config = configurationOrExit();
  const adapters = await openAdapters(config);
  const app = await NestFactory.create(ServiceModule.forRoot(config, adapters), { bufferLogs: false, abortOnError: false });
  configureHttpApplication(app);
  app.enableShutdownHooks();
  if (config.workerInProcess) {
    // Open (or create) the repository now, so a wrong passphrase stops the start, loudly.
    await app.get(ServiceRepositoryProvider).repository();
  }
  await app.listen(config.port, config.host);
  const address = config.host.includes(':') ? `[${config.host}]` : config.host;
  const callers = config.apiTokens ? `${config.apiTokens.size} API token(s)` : 'no API tokens: callers name themselves in X-Actor';
  const topology = `event store ${config.eventStore}, bus ${config.bus}, ${config.workerInProcess ? 'worker in process' : 'separate workers'}`;
  logger.log(`listening on http://${address}:${config.port} (${callers}; ${topology})`);
}

/** `custodia worker`: a data-plane process taking jobs from Kafka. */
export async function work(): Promise<INestApplicationContext> {
  const config = configurationOrExit({ api: false });
  if (config.bus !== 'kafka') {
    process.stderr.write(
      'custodia: error [CONFIGURATION]: a separate worker needs BUS=kafka (with the in-process bus, `custodia serve` runs the worker itself)\n',
    );
    process.exit(2);
  }
  const bus = await openJobBus(config);
  const app = await NestFactory.createApplicationContext(WorkerModule.forRoot(config, bus), { bufferLogs: false, abortOnError: false });
  app.enableShutdownHooks();
  await app.init();
  return app;
}

function configurationOrExit(options: { api?: boolean } = {}) {
  try {
    return loadConfiguration(process.env, options);
  } catch (error) {
    if (error instanceof ConfigurationError) {
      process.stderr.write(`custodia: error [CONFIGURATION]: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}

export function exitOnStartupFailure(error: unknown): never {
  const code = (error as { code?: unknown }).code;
  const name = error instanceof Error ? error.name : '';
  const message = error instanceof Error ? error.message : String(error);
  const label = name === 'ConfigurationError' ? 'CONFIGURATION' : typeof code === 'string' ? code : 'STARTUP';
  process.stderr.write(`custodia: error [${label}]: ${message}\n`);
  process.exit(1);
}

if (require.main === module) serve().catch(exitOnStartupFailure);
