import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfiguration } from '../../src/infrastructure/config/configuration';

/** Settings that cannot work together are refused at start, with one line naming both. */
describe('configuration that cannot work', () => {
  const base = { DATA_DIR: path.join(os.tmpdir(), 'custodia-config-spec'), CUSTODIA_PASSPHRASE: 'x' };
  const kafka = {
    ...base,
    BUS: 'kafka',
    KAFKA_BROKERS: '127.0.0.1:9092',
    CUSTODIA_PSEUDONYM_SECRET: 'a-secret-of-16-bytes-or-more',
    SOURCE_ROOTS: os.tmpdir(),
  };

  it('refuses a heartbeat timeout that leaves no room for three worker heartbeats', () => {
    expect(() => loadConfiguration({ ...base, JOB_HEARTBEAT_TIMEOUT_MS: '1000', WORKER_HEARTBEAT_INTERVAL_MS: '500' })).toThrow(
      'JOB_HEARTBEAT_TIMEOUT_MS (1000) must be at least 3 × WORKER_HEARTBEAT_INTERVAL_MS (500)',
    );
  });

  it('refuses, on Kafka, a heartbeat timeout that does not outlast the consumer session', () => {
    expect(() => loadConfiguration({ ...kafka, JOB_HEARTBEAT_TIMEOUT_MS: '20000', KAFKA_SESSION_TIMEOUT_MS: '30000' })).toThrow(
      'JOB_HEARTBEAT_TIMEOUT_MS (20000) must be longer than KAFKA_SESSION_TIMEOUT_MS (30000)',
    );
  });

  it('accepts the defaults, and a short timeout where no Kafka session is involved', () => {
    expect(loadConfiguration(kafka).orchestration.jobHeartbeatTimeoutMs).toBe(60_000);
    expect(
      loadConfiguration({ ...base, JOB_HEARTBEAT_TIMEOUT_MS: '20000', KAFKA_SESSION_TIMEOUT_MS: '30000' }).kafka.sessionTimeoutMs,
    ).toBe(30_000);
  });
});
