import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_ORCHESTRATION_SETTINGS, OrchestrationSettings } from '../../application/settings';
import { DEFAULT_RETENTION_POLICY, RetentionPolicy } from '../../domain';
import { ApiTokenFile } from '../http/api-token-file';
import { ApiTokensError } from '../http/api-tokens';
import { existingFileProblem } from './file-permissions';

/** Everything the service reads from its environment, checked once at start-up. */
export interface Configuration {
  port: number;
  /** The address the API listens on (HOST); anything but loopback needs API tokens. */
  host: string;
  /** Bearer tokens from CUSTODIA_API_TOKENS_FILE (re-read when it changes); null: callers name themselves in X-Actor. */
  apiTokens: ApiTokenFile | null;
  dataDir: string;
  /** Passphrase of the embedded repository; null: use (or create) the key file in dataDir. */
  passphrase: string | null;
  /** Folders a restore may write into; any other target is refused. */
  restoreRoots: string[];
  /**
   * SOURCE_ROOTS: the folders sources may be in (required with API tokens and in the distributed
   * setup); null: anywhere the other confinement rules allow (embedded defaults only).
   */
  sourceRoots: string[] | null;
  /** CUSTODIA_API_TOKENS_FILE as a path, also for processes that do not read it: no source may hold it. */
  apiTokensFile: string | null;
  orchestration: OrchestrationSettings;
  /** RETENTION_ACTIVE_DAYS, RETENTION_ARCHIVED_DAYS, RESTORE_TEST_INTERVAL_DAYS (0: no automatic restore tests). */
  retention: RetentionPolicy;

  workerConcurrency: number;
  heartbeatIntervalMs: number;
  /** scrypt cost for a newly created repository key slot. */
  kdfN: number;
  /** Which adapter serves each port (EVENT_STORE, BUS, STORAGE). */
  eventStore: 'sqlite' | 'postgres' | 'eventstoredb';
  bus: 'inprocess' | 'kafka';
  storage: 'fs' | 's3';
  /** Where per-data-subject keys live (KEY_VAULT): in the repository, or in PostgreSQL (DATABASE_URL/PG*, PG_SCHEMA). */
  keyVault: 'repository' | 'postgres';
  /** The repository: a folder, or s3://bucket/prefix with STORAGE=s3. */
  repositoryLocation: string;
  /** Whether this `serve` process also runs a worker (always with BUS=inprocess). */
  workerInProcess: boolean;
  postgres: { connectionString: string | null; schema: string };
  kafka: { brokers: string[]; topicPrefix: string; partitions: number; sessionTimeoutMs: number };
  eventStoreDbConnectionString: string | null;
  /** Secret of the HMAC that turns data subjects' ids into pseudonyms; null: a generated file (embedded only). */
  pseudonymSecret: string | null;
  /** RATE_LIMIT_COMMANDS_PER_MINUTE: commands (POST/PATCH/DELETE, mutations) per caller a minute; 0: no limit. */
  commandsPerMinute: number;
  /** How often a standby `serve` tries for the control plane's lease, and the leader checks it (PostgreSQL). */
  leaderPollIntervalMs: number;
  /** GET /health reports a folder of the service's (DATA_DIR, a folder repository) full below this many free bytes. */
  healthMinFreeBytes: number;
  /** How this process's worker names itself in status messages and so in each attempt's record. */
  workerId: string;
}

export class ConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigurationError';
  }
}

/**
 * `api: false` for processes that serve no API (workers, maintenance commands): they neither
 * read the tokens file nor check HOST, so a worker machine needs no copy of the tokens.
 */
export function loadConfiguration(env: NodeJS.ProcessEnv = process.env, options: { api?: boolean } = {}): Configuration {
  const dataDir = path.resolve(env.DATA_DIR ?? './data');
  const restoreRoots = (env.RESTORE_ROOTS ?? path.join(dataDir, 'restores'))
    .split(':')
    .filter((root) => root.length > 0)
    .map((root) => path.resolve(root));
  if (restoreRoots.length === 0) throw new ConfigurationError('RESTORE_ROOTS must name at least one folder');
  const eventStore = choice(env, 'EVENT_STORE', ['sqlite', 'postgres', 'eventstoredb'] as const, 'sqlite');
  const bus = choice(env, 'BUS', ['inprocess', 'kafka'] as const, 'inprocess');
  const storage = choice(env, 'STORAGE', ['fs', 's3'] as const, 'fs');
  const repositoryLocation = env.REPOSITORY || path.join(dataDir, 'repository');
  if (storage === 's3' && !repositoryLocation.startsWith('s3://')) {
    throw new ConfigurationError(
      'STORAGE=s3 needs REPOSITORY=s3://bucket/prefix (and S3_ENDPOINT, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY for a non-AWS server)',
    );
  }
  if (storage === 'fs' && repositoryLocation.startsWith('s3://')) throw new ConfigurationError('REPOSITORY=s3://... needs STORAGE=s3');
  if (storage === 's3' && !env.CUSTODIA_PASSPHRASE) {
    throw new ConfigurationError('STORAGE=s3 needs CUSTODIA_PASSPHRASE: a generated key file would live on one machine only');
  }
  const workerInProcess = bus === 'inprocess' ? true : flag(env, 'WORKER_IN_PROCESS', false);
  if (bus === 'inprocess' && env.WORKER_IN_PROCESS === 'false') {
    throw new ConfigurationError('WORKER_IN_PROCESS=false needs BUS=kafka: with the in-process bus only this process can run jobs');
  }
  const brokers = (env.KAFKA_BROKERS ?? '')
    .split(',')
    .map((broker) => broker.trim())
    .filter(Boolean);
  if (bus === 'kafka' && brokers.length === 0) throw new ConfigurationError('BUS=kafka needs KAFKA_BROKERS (host:port[,host:port...])');
  const connectionString = env.DATABASE_URL || null;
  if (eventStore === 'postgres' && !connectionString && !env.PGHOST) {
    throw new ConfigurationError(
      'EVENT_STORE=postgres needs DATABASE_URL (postgres://user@host:port/db) or the PG* variables (PGHOST, ...)',
    );
  }
  const { keyVault, postgres } = keyVaultSettings(env, repositoryLocation);
  const eventStoreDbConnectionString = env.EVENTSTORE_CONNECTION_STRING || null;
  if (eventStore === 'eventstoredb' && !eventStoreDbConnectionString) {
    throw new ConfigurationError('EVENT_STORE=eventstoredb needs EVENTSTORE_CONNECTION_STRING (e.g. esdb://127.0.0.1:2113?tls=false)');
  }
  const apiTokensFile = env.CUSTODIA_API_TOKENS_FILE ? path.resolve(env.CUSTODIA_API_TOKENS_FILE) : null;
  const pseudonymSecret = env.CUSTODIA_PSEUDONYM_SECRET || null;
  if (pseudonymSecret !== null && Buffer.byteLength(pseudonymSecret) < 16) {
    throw new ConfigurationError('CUSTODIA_PSEUDONYM_SECRET must be at least 16 bytes long');
  }
  if (pseudonymSecret === null && (storage === 's3' || bus === 'kafka')) {
    throw new ConfigurationError(
      'the distributed mode needs CUSTODIA_PSEUDONYM_SECRET (the same on every process): pseudonyms must match everywhere',
    );
  }
  const sourceRoots = sourceRootsSetting(env, {
    tokens: options.api !== false && apiTokensFile !== null,
    distributed: bus === 'kafka' || storage === 's3' || eventStore === 'postgres',
  });
  assertPrivateKeyFiles(dataDir);
  const orchestration = orchestrationSettings(env);
  const kafka = {
    brokers,
    topicPrefix: env.KAFKA_TOPIC_PREFIX || 'custodia',
    partitions: integer(env, 'KAFKA_PARTITIONS', 6, 1, 1000),
    sessionTimeoutMs: integer(env, 'KAFKA_SESSION_TIMEOUT_MS', 30_000, 6_000, 300_000),
  };
  const heartbeatIntervalMs = integer(env, 'WORKER_HEARTBEAT_INTERVAL_MS', 5_000, 50);
  assertTimeoutsFit(orchestration.jobHeartbeatTimeoutMs, heartbeatIntervalMs, bus === 'kafka' ? kafka.sessionTimeoutMs : null);
  return {
    ...(options.api === false ? { host: '127.0.0.1', apiTokens: null } : apiAccessSettings(env)),
    sourceRoots,
    apiTokensFile,
    pseudonymSecret,
    eventStore,
    bus,
    storage,
    keyVault,
    repositoryLocation: storage === 's3' ? repositoryLocation : path.resolve(repositoryLocation),
    workerInProcess,
    postgres,
    kafka,
    eventStoreDbConnectionString,
    port: integer(env, 'PORT', 3000, 0, 65535),
    dataDir,
    passphrase: env.CUSTODIA_PASSPHRASE ? env.CUSTODIA_PASSPHRASE : null,
    restoreRoots,
    orchestration,
    retention: {
      activeDays: integer(env, 'RETENTION_ACTIVE_DAYS', DEFAULT_RETENTION_POLICY.activeDays, 1, 36_500),
      archivedDays: integer(env, 'RETENTION_ARCHIVED_DAYS', DEFAULT_RETENTION_POLICY.archivedDays, 0, 36_500),
      restoreTestIntervalDays: integer(env, 'RESTORE_TEST_INTERVAL_DAYS', DEFAULT_RETENTION_POLICY.restoreTestIntervalDays, 0, 3_650),
      deleteExpired: flag(env, 'RETENTION_DELETE_EXPIRED', DEFAULT_RETENTION_POLICY.deleteExpired),
    },
    workerConcurrency: integer(env, 'WORKER_CONCURRENCY', 2, 1, 64),
    heartbeatIntervalMs,
    kdfN: integer(env, 'CUSTODIA_KDF_N', 2 ** 17, 1024),
    commandsPerMinute: integer(env, 'RATE_LIMIT_COMMANDS_PER_MINUTE', 600, 0, 1_000_000),
    leaderPollIntervalMs: integer(env, 'LEADER_POLL_INTERVAL_MS', 2_000, 100, 60_000),
    healthMinFreeBytes: integer(env, 'HEALTH_MIN_FREE_BYTES', 64 * 1024 * 1024, 0),
    workerId: workerIdSetting(env),
  };
}

function orchestrationSettings(env: NodeJS.ProcessEnv): Configuration['orchestration'] {
  return {
    jobHeartbeatTimeoutMs: integer(env, 'JOB_HEARTBEAT_TIMEOUT_MS', DEFAULT_ORCHESTRATION_SETTINGS.jobHeartbeatTimeoutMs, 100),
    jobSupervisionIntervalMs: integer(env, 'JOB_SUPERVISION_INTERVAL_MS', DEFAULT_ORCHESTRATION_SETTINGS.jobSupervisionIntervalMs, 50),
    jobMaxAttempts: integer(env, 'JOB_MAX_ATTEMPTS', DEFAULT_ORCHESTRATION_SETTINGS.jobMaxAttempts, 1, 100),
    jobRetryBaseDelayMs: integer(env, 'JOB_RETRY_BASE_DELAY_MS', DEFAULT_ORCHESTRATION_SETTINGS.jobRetryBaseDelayMs, 0),
    restoreTestCheckIntervalMs: integer(
      env,
      'RESTORE_TEST_CHECK_INTERVAL_MS',
      DEFAULT_ORCHESTRATION_SETTINGS.restoreTestCheckIntervalMs,
      50,
    ),
  };
}

/** WORKER_ID, or this host and process; at most 200 characters, as the status messages allow. */
function workerIdSetting(env: NodeJS.ProcessEnv): string {
  const id = env.WORKER_ID || `${os.hostname()}:${process.pid}`;
  if (id.length > 200) throw new ConfigurationError('WORKER_ID must be at most 200 characters');
  return id;
}

/**
 * Timeouts that cannot work together are refused at start, naming both settings. A heartbeat
 * timeout must leave room for a few heartbeats (one late beat on a busy worker is not a dead
 * worker), and on Kafka it must outlast the consumer session: a dead worker's jobs reach another
 * worker only after the session expires, and a timeout before that re-dispatches a job that the
 * broker is about to hand out again, so two attempts run at once.
 */
export function assertTimeoutsFit(jobHeartbeatTimeoutMs: number, heartbeatIntervalMs: number, kafkaSessionTimeoutMs: number | null): void {
  if (jobHeartbeatTimeoutMs < 3 * heartbeatIntervalMs) {
    throw new ConfigurationError(
      `JOB_HEARTBEAT_TIMEOUT_MS (${jobHeartbeatTimeoutMs}) must be at least 3 × WORKER_HEARTBEAT_INTERVAL_MS (${heartbeatIntervalMs})`,
    );
  }
  if (kafkaSessionTimeoutMs !== null && jobHeartbeatTimeoutMs <= kafkaSessionTimeoutMs) {
    throw new ConfigurationError(
      `JOB_HEARTBEAT_TIMEOUT_MS (${jobHeartbeatTimeoutMs}) must be longer than KAFKA_SESSION_TIMEOUT_MS (${kafkaSessionTimeoutMs})`,
    );
  }
}

/**
 * Who may call the API. Without a tokens file the API trusts X-Actor, which is only acceptable
 * when nobody but this machine's users can reach it: so a non-loopback HOST needs tokens.
 */
function apiAccessSettings(env: NodeJS.ProcessEnv): Pick<Configuration, 'host' | 'apiTokens'> {
  const host = env.HOST || '127.0.0.1';
  const file = env.CUSTODIA_API_TOKENS_FILE || null;
  let apiTokens: ApiTokenFile | null = null;
  if (file !== null) {
    // Whoever can write the file admits themselves with a token of their own.
    const problem = existingFileProblem(path.resolve(file), { secret: false });
    if (problem !== null) throw new ConfigurationError(`CUSTODIA_API_TOKENS_FILE: ${problem}`);
    try {
      apiTokens = ApiTokenFile.open(path.resolve(file));
    } catch (error) {
      if (error instanceof ApiTokensError) throw new ConfigurationError(`CUSTODIA_API_TOKENS_FILE: ${error.message}`);
      throw error;
    }
  }
  if (apiTokens === null && !isLoopback(host)) {
    throw new ConfigurationError(
      `HOST=${host} opens the API beyond this machine: set CUSTODIA_API_TOKENS_FILE too (see README, Authentication)`,
    );
  }
  return { host, apiTokens };
}

/** The key and secret files the embedded mode generates in DATA_DIR (see ServiceRepositoryProvider). */
export function generatedKeyFiles(dataDir: string): string[] {
  return [path.join(dataDir, 'repository.key'), path.join(dataDir, 'pseudonym.secret')];
}

/** A key file others can read gives away every backup; one they can write swaps the key. */
function assertPrivateKeyFiles(dataDir: string): void {
  for (const file of generatedKeyFiles(dataDir)) {
    const problem = existingFileProblem(file, { secret: true });
    if (problem !== null) throw new ConfigurationError(problem);
  }
}

/**
 * SOURCE_ROOTS, colon-separated absolute folders. Required when the API is open to several
 * people (tokens) or the setup is distributed: then a source outside them is refused. Unset on
 * embedded defaults, any folder is allowed that the other confinement rules allow.
 */
function sourceRootsSetting(env: NodeJS.ProcessEnv, uses: { tokens: boolean; distributed: boolean }): string[] | null {
  const raw = env.SOURCE_ROOTS ?? '';
  const roots = raw.split(':').filter((root) => root.length > 0);
  if (roots.length === 0) {
    if (uses.tokens || uses.distributed) {
      const why = uses.tokens
        ? 'with CUSTODIA_API_TOKENS_FILE'
        : 'in the distributed setup (BUS=kafka, STORAGE=s3 or EVENT_STORE=postgres)';
      throw new ConfigurationError(`SOURCE_ROOTS must list the folders sources may be in (colon-separated absolute paths) ${why}`);
    }
    return null;
  }
  for (const root of roots) {
    if (!path.isAbsolute(root)) throw new ConfigurationError(`SOURCE_ROOTS must list absolute folders, got "${root}"`);
  }
  return roots.map((root) => path.resolve(root));
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/**
 * Where subject keys live (KEY_VAULT; by default in PostgreSQL when the event store is there),
 * and the PostgreSQL settings that vault uses. The service and the command line both read it.
 */
export function keyVaultSettings(
  env: NodeJS.ProcessEnv,
  repositoryLocation: string,
): Pick<Configuration, 'keyVault' | 'repositoryLocation' | 'postgres'> {
  const fallback = env.EVENT_STORE === 'postgres' ? 'postgres' : 'repository';
  const keyVault = choice(env, 'KEY_VAULT', ['repository', 'postgres'] as const, fallback);
  const connectionString = env.DATABASE_URL || null;
  if (keyVault === 'postgres' && !connectionString && !env.PGHOST) {
    throw new ConfigurationError('KEY_VAULT=postgres needs DATABASE_URL (postgres://user@host:port/db) or the PG* variables (PGHOST, ...)');
  }
  return { keyVault, repositoryLocation, postgres: { connectionString, schema: env.PG_SCHEMA || 'public' } };
}

function choice<T extends string>(env: NodeJS.ProcessEnv, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw))
    throw new ConfigurationError(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
  return raw as T;
}

function flag(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw !== 'true' && raw !== 'false') throw new ConfigurationError(`${name} must be true or false, got "${raw}"`);
  return raw === 'true';
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigurationError(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
  }
  return value;
}
