import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ConfigurationError, loadConfiguration } from './infrastructure/config/configuration';
import { EmbeddedModule } from './infrastructure/embedded.module';
import { EmbeddedRepositoryProvider } from './infrastructure/repository/embedded-repository.provider';

/** `npm start`: the whole service on embedded defaults (see README). */
export async function serve(): Promise<void> {
  const logger = new Logger('Custodia');
  let config;
  try {
    config = loadConfiguration();
  } catch (error) {
    if (error instanceof ConfigurationError) {
      process.stderr.write(`custodia: error [CONFIGURATION]: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const app = await NestFactory.create(EmbeddedModule.forRoot(config), { bufferLogs: false });
  app.enableShutdownHooks();
  // Open (or create) the repository now, so a wrong passphrase stops the start, loudly.
  await app.get(EmbeddedRepositoryProvider).repository();
  await app.listen(config.port, '127.0.0.1');
  logger.log(`listening on http://127.0.0.1:${config.port} (data in ${config.dataDir})`);
}

if (require.main === module) {
  serve().catch((error: unknown) => {
    const code = (error as { code?: string }).code;
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`custodia: error [${code ?? 'STARTUP'}]: ${message}\n`);
    process.exit(1);
  });
}
