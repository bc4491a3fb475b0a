import * as path from 'node:path';
import { DEFAULT_ORCHESTRATION_SETTINGS, OrchestrationSettings } from '../../application/settings';

/** Everything the service reads from its environment, checked once at start-up. */
export interface Configuration {
  port: number;
  dataDir: string;
  /** Passphrase of the embedded repository; null: use (or create) the key file in dataDir. */
  passphrase: string | null;
  /** Folders a restore may write into; any other target is refused. */
  restoreRoots: string[];
  orchestration: OrchestrationSettings;
  workerConcurrency: number;
  heartbeatIntervalMs: number;
  /** scrypt cost for a newly created repository key slot. */
  kdfN: number;
}

export class ConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigurationError';
  }
}

export function loadConfiguration(env: NodeJS.ProcessEnv = process.env): Configuration {
  const dataDir = path.resolve(env.DATA_DIR ?? './data');
  const restoreRoots = (env.RESTORE_ROOTS ?? path.join(dataDir, 'restores'))
    .split(':')
    .filter((root) => root.length > 0)
    .map((root) => path.resolve(root));
  if (restoreRoots.length === 0) throw new ConfigurationError('RESTORE_ROOTS must name at least one folder');
  return {
    port: integer(env, 'PORT', 3000, 0, 65535),
    dataDir,
    passphrase: env.CUSTODIA_PASSPHRASE ? env.CUSTODIA_PASSPHRASE : null,
    restoreRoots,
    orchestration: {
      jobHeartbeatTimeoutMs: integer(env, 'JOB_HEARTBEAT_TIMEOUT_MS', DEFAULT_ORCHESTRATION_SETTINGS.jobHeartbeatTimeoutMs, 100),
      jobSupervisionIntervalMs: integer(env, 'JOB_SUPERVISION_INTERVAL_MS', DEFAULT_ORCHESTRATION_SETTINGS.jobSupervisionIntervalMs, 50),
      jobMaxAttempts: integer(env, 'JOB_MAX_ATTEMPTS', DEFAULT_ORCHESTRATION_SETTINGS.jobMaxAttempts, 1, 100),
      jobRetryBaseDelayMs: integer(env, 'JOB_RETRY_BASE_DELAY_MS', DEFAULT_ORCHESTRATION_SETTINGS.jobRetryBaseDelayMs, 0),
    },
    workerConcurrency: integer(env, 'WORKER_CONCURRENCY', 2, 1, 64),
    heartbeatIntervalMs: integer(env, 'WORKER_HEARTBEAT_INTERVAL_MS', 5_000, 50),
    kdfN: integer(env, 'CUSTODIA_KDF_N', 2 ** 17, 1024),
  };
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
