import { describeForLog } from '../../application/describe-for-log';
import { EngineError, Repository } from '../../engine';
import { StartupError } from '../adapters';
import { Configuration } from '../config/configuration';
import { PostgresKeyVault } from '../persistence/postgres-key-vault';
import { SchemaMigrationError } from '../persistence/schema-migrations';

/**
 * Puts the repository's subject keys where KEY_VAULT says: with `repository` nothing changes (the
 * embedded vault); with `postgres` a PostgresKeyVault in PG_SCHEMA replaces it. Returns that
 * vault, whose owner should close it on shutdown, or null.
 *
 * Keys are not moved between vaults: a repository that already keeps subject keys (or their
 * tombstones) in itself is refused, since with the PostgreSQL vault its subjects' data would no
 * longer open and an erasure would not destroy those keys.
 */
export type KeyVaultSettings = Pick<Configuration, 'keyVault' | 'repositoryLocation' | 'postgres'>;

export async function attachKeyVault(config: KeyVaultSettings, repository: Repository): Promise<PostgresKeyVault | null> {
  if (config.keyVault !== 'postgres') return null;
  const held = (await repository.keyVault.list()).length;
  if (held > 0) {
    throw new EngineError(
      'INVALID_ARGUMENT',
      `KEY_VAULT=postgres, but the repository at ${config.repositoryLocation} keeps ${held} subject key(s) in itself; ` +
        'set KEY_VAULT=repository (keys are not migrated between vaults)',
    );
  }
  let vault: PostgresKeyVault;
  try {
    vault = await PostgresKeyVault.open(repository.master, {
      connection: config.postgres.connectionString
        ? { connectionString: config.postgres.connectionString, connectionTimeoutMillis: 10_000 }
        : { connectionTimeoutMillis: 10_000 },
      schema: config.postgres.schema,
    });
  } catch (error) {
    if (error instanceof SchemaMigrationError) throw error;
    const detail = error instanceof Error && 'code' in error ? String((error as { code: unknown }).code) : describeForLog(error);
    throw new StartupError(`cannot reach PostgreSQL for the key vault (${detail}); check DATABASE_URL or PGHOST`);
  }
  repository.useKeyVault(vault);
  return vault;
}
