import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { EngineError, objectStoreFromLocation, ObjectStore, Repository, S3ObjectStore } from '../engine';
import { keyVaultSettings } from '../infrastructure/config/configuration';
import { attachKeyVault } from '../infrastructure/repository/key-vault.factory';

export interface RepositoryFlags {
  repo?: string;
  passphraseFile?: string;
}

/** Adds --repo and --passphrase-file to a command. */
export function withRepository(command: Command): Command {
  return command
    .option('--repo <location>', 'repository folder or s3://bucket/prefix (or set CUSTODIA_REPOSITORY; S3 settings from S3_* variables)')
    .option('--passphrase-file <file>', 'read the passphrase from this file (or set CUSTODIA_PASSPHRASE)');
}

/**
 * The repository's object store: a folder, or an S3 bucket for `s3://bucket/prefix` (endpoint,
 * region and credentials from S3_ENDPOINT, S3_REGION, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY and
 * S3_FORCE_PATH_STYLE; see objectStoreFromLocation).
 */
export function repositoryStore(flags: RepositoryFlags): ObjectStore {
  const location = flags.repo ?? process.env.CUSTODIA_REPOSITORY;
  if (!location) throw new EngineError('INVALID_ARGUMENT', 'no repository given: pass --repo <location> or set CUSTODIA_REPOSITORY');
  return objectStoreFromLocation(location);
}

/**
 * Makes the place a new repository goes: `repo init` on S3 creates the bucket when it does not
 * exist (as it creates a missing folder); every other command requires it to exist.
 */
export async function prepareRepositoryLocation(store: ObjectStore): Promise<void> {
  if (store instanceof S3ObjectStore) await store.createBucketIfMissing();
}

/** The passphrase from --passphrase-file (first line) or CUSTODIA_PASSPHRASE; never from argv. */
export function readPassphrase(file: string | undefined, envName = 'CUSTODIA_PASSPHRASE'): string {
  if (file) {
    let content: string;
    try {
      content = readFileSync(file, 'utf8');
    } catch {
      throw new EngineError('PASSPHRASE_MISSING', `cannot read passphrase file ${file}`);
    }
    const passphrase = content.split(/\r?\n/)[0];
    if (!passphrase) throw new EngineError('PASSPHRASE_MISSING', `passphrase file ${file} is empty`);
    return passphrase;
  }
  const fromEnv = process.env[envName];
  if (!fromEnv) throw new EngineError('PASSPHRASE_MISSING', `no passphrase: set ${envName} or pass --passphrase-file`);
  return fromEnv;
}

/** Opens the repository; with KEY_VAULT=postgres (as the service reads it) its subject keys are the ones in PostgreSQL. */
export async function openRepository(flags: RepositoryFlags, options?: { loadIndex?: boolean }): Promise<Repository> {
  const store = repositoryStore(flags);
  const repository = await Repository.open(store, readPassphrase(flags.passphraseFile), options);
  await attachKeyVault(keyVaultSettings(process.env, store.location), repository);
  return repository;
}
