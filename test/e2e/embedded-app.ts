import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { INestApplication, LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { Configuration, loadConfiguration } from '../../src/infrastructure/config/configuration';
import { ServiceModule } from '../../src/infrastructure/service.module';
import { configureHttpApplication } from '../../src/infrastructure/http/body-limits';
import { Clock } from '../../src/application/ports/clock';
import { CLOCK } from '../../src/application/tokens';

export interface TestApp {
  app: INestApplication;
  config: Configuration;
  dataDir: string;
  http: () => ReturnType<typeof request>;
  close: () => Promise<void>;
}

/** Boots the whole embedded service in-process on a temporary DATA_DIR. */
/** `clock` replaces the system clock, for tests that move time on (retention). */
export async function startApp(
  env: Record<string, string> = {},
  dataDir?: string,
  logger?: LoggerService,
  clock?: Clock,
): Promise<TestApp> {
  const dir = dataDir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-e2e-')));
  const config = loadConfiguration({
    DATA_DIR: dir,
    CUSTODIA_PASSPHRASE: 'e2e-passphrase',
    CUSTODIA_KDF_N: '1024',
    WORKER_HEARTBEAT_INTERVAL_MS: '200',
    JOB_SUPERVISION_INTERVAL_MS: '200',
    JOB_RETRY_BASE_DELAY_MS: '50',
    ...env,
  });
  const builder = Test.createTestingModule({ imports: [ServiceModule.forRoot(config)] });
  if (clock) builder.overrideProvider(CLOCK).useValue(clock);
  const moduleRef = await builder.compile();
  const app = moduleRef.createNestApplication({ logger: logger ?? ['error'] });
  configureHttpApplication(app);
  app.enableShutdownHooks();
  await app.init();
  return {
    app,
    config,
    dataDir: dir,
    http: () => request(app.getHttpServer()),
    close: () => app.close(),
  };
}

export async function waitForStatus(
  http: () => ReturnType<typeof request>,
  url: string,
  done: (body: { status: string }) => boolean = (body) => ['completed', 'failed', 'cancelled'].includes(body.status),
  timeoutMs = 30_000,
): Promise<Record<string, unknown> & { status: string }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await http().get(url);
    if (response.status === 200 && done(response.body)) return response.body;
    if (Date.now() > deadline) throw new Error(`${url} did not settle: ${JSON.stringify(response.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Every regular file and symlink under `root`, with its content or target. */
export async function snapshotTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await fs.readdir(root, { recursive: true, withFileTypes: true })) {
    const full = path.join(entry.parentPath, entry.name);
    const rel = path.relative(root, full);
    if (entry.isSymbolicLink()) out[rel] = `-> ${await fs.readlink(full)}`;
    else if (entry.isFile()) out[rel] = (await fs.readFile(full)).toString('base64');
    else if (entry.isDirectory()) out[`${rel}/`] = 'dir';
  }
  return out;
}

/** A Nest logger that keeps every line at every level, for tests that read what the service logs. */
export class CapturingLogger implements LoggerService {
  readonly lines: string[] = [];
  log = (...message: unknown[]) => this.keep('log', message);
  error = (...message: unknown[]) => this.keep('error', message);
  warn = (...message: unknown[]) => this.keep('warn', message);
  debug = (...message: unknown[]) => this.keep('debug', message);
  verbose = (...message: unknown[]) => this.keep('verbose', message);
  fatal = (...message: unknown[]) => this.keep('fatal', message);

  private keep(level: string, message: unknown[]): void {
    this.lines.push(
      `${level} ${message.map((part) => (part instanceof Error ? `${part.message} ${part.stack}` : String(part))).join(' ')}`,
    );
  }
}

/**
 * Retries an assertion until it passes (or the time is up, then its last failure is thrown):
 * for read models, each fed by its own subscription and so a moment behind the event log.
 */
export async function eventually<T>(assertion: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await assertion();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
