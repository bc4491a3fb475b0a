import { createHmac, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Logger } from '@nestjs/common';
import { EngineError, hmacPseudonymiser, objectStoreFromLocation, Pseudonymiser, Repository } from '../../engine';
import { Keys } from '../../engine/repository/format';

import { RepositoryProvider } from '../../worker/repository-provider';
import { Configuration } from '../config/configuration';
import { attachKeyVault } from './key-vault.factory';

/**
 * The service's repository: REPOSITORY (a folder, by default DATA_DIR/repository, or an S3
 * location), created on first start. Its passphrase is CUSTODIA_PASSPHRASE or, for a local
 * folder when unset, a random key file generated once in DATA_DIR (mode 0600) so that the quick
 * start needs no setting.
 */
/** How long a worker's job waits for a repository held by a prune before failing (retryable). */
const JOB_LOCK_WAIT_MS = 15 * 60_000;

export class ServiceRepositoryProvider implements RepositoryProvider {
  private readonly logger = new Logger('Repository');
  private opening: Promise<Repository> | null = null;
  private secret: Promise<string> | null = null;

  constructor(private readonly config: Configuration) {}

  get location(): string {
    return this.config.repositoryLocation;
  }

  /**
   * The pseudonymiser for data subjects' ids: HMAC with CUSTODIA_PSEUDONYM_SECRET or, in the
   * embedded mode when unset, a secret generated once in DATA_DIR (mode 0600).
   */
  async pseudonymiser(): Promise<Pseudonymiser> {
    return hmacPseudonymiser(await this.pseudonymSecret());
  }

  /** Read (or generated) once: the API and the in-process worker ask for it at the same time. */
  private pseudonymSecret(): Promise<string> {
    this.secret ??= this.loadPseudonymSecret().catch((error: unknown) => {
      this.secret = null;
      throw error;
    });
    return this.secret;
  }

  private async loadPseudonymSecret(): Promise<string> {
    if (this.config.pseudonymSecret) return this.config.pseudonymSecret;
    const file = path.join(this.config.dataDir, 'pseudonym.secret');
    try {
      return (await fs.readFile(file, 'utf8')).trim();
    } catch {
      await fs.mkdir(this.config.dataDir, { recursive: true, mode: 0o700 });
      const secret = randomBytes(32).toString('base64url');
      await fs.writeFile(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
      this.logger.warn(`CUSTODIA_PSEUDONYM_SECRET is not set: generated one in ${file}; keep it with the repository key`);
      return secret;
    }
  }

  /**
   * Pseudonyms must stay the same for the repository's whole life (erasure finds a subject's
   * key by its pseudonym), so the repository keeps a check value of the secret it was first
   * used with, and a different secret stops the start instead of silently creating new keys.
   */
  private async checkPseudonymSecret(repository: Repository): Promise<void> {
    const check = createHmac('sha256', await this.pseudonymSecret())
      .update('custodia-pseudonym-check')
      .digest('hex');
    const stored = await repository.store.get(Keys.pseudonymCheck).then(
      (data) => data.toString('utf8').trim(),
      () => null,
    );
    if (stored === null) await repository.store.put(Keys.pseudonymCheck, Buffer.from(`${check}\n`));
    else if (stored !== check) {
      throw new EngineError(
        'PSEUDONYM_SECRET_MISSING',
        `CUSTODIA_PSEUDONYM_SECRET is not the secret ${this.location} was set up with: data subjects' pseudonyms would not match`,
      );
    }
  }

  get keyFile(): string {
    return path.join(this.config.dataDir, 'repository.key');
  }

  repository(): Promise<Repository> {
    this.opening ??= this.open().catch((error: unknown) => {
      this.opening = null;
      throw error;
    });
    return this.opening;
  }

  private async open(): Promise<Repository> {
    const repository = await this.openOrCreate();
    // A job that meets a prune (which holds the repository alone) waits for it, heartbeating.
    repository.lockOptions = { waitMs: JOB_LOCK_WAIT_MS };
    return repository;
  }

  private async openOrCreate(): Promise<Repository> {
    const store = objectStoreFromLocation(this.location);
    const exists = (await store.stat('config')) !== null;
    const passphrase = this.config.passphrase ?? (await this.keyFilePassphrase(exists));
    if (exists) {
      const repository = await Repository.open(store, passphrase);
      await this.checkPseudonymSecret(repository);
      await attachKeyVault(this.config, repository);
      return repository;
    }
    if (this.config.storage === 'fs') await fs.mkdir(this.location, { recursive: true, mode: 0o700 });
    this.logger.log(`creating the backup repository at ${this.location}`);
    const repository = await Repository.init(store, passphrase, { kdfCost: { N: this.config.kdfN, r: 8, p: 1 } });
    await this.checkPseudonymSecret(repository);
    await attachKeyVault(this.config, repository);
    return repository;
  }

  private async keyFilePassphrase(repositoryExists: boolean): Promise<string> {
    try {
      return (await fs.readFile(this.keyFile, 'utf8')).trim();
    } catch {
      if (repositoryExists) {
        throw new EngineError(
          'PASSPHRASE_MISSING',
          `the repository at ${this.location} exists but ${this.keyFile} is missing: set CUSTODIA_PASSPHRASE or put the key file back`,
        );
      }
      await fs.mkdir(this.config.dataDir, { recursive: true, mode: 0o700 });
      const key = randomBytes(32).toString('base64url');
      await fs.writeFile(this.keyFile, `${key}\n`, { mode: 0o600, flag: 'wx' });
      const banner = '*'.repeat(78);
      this.logger.warn(
        [
          banner,
          `CUSTODIA_PASSPHRASE is not set: generated a random repository key in ${this.keyFile}`,
          'Every backup is encrypted with it. LOSING THIS FILE LOSES ALL BACKUPS.',
          'Copy it somewhere safe now (not next to the backups), or set CUSTODIA_PASSPHRASE.',
          banner,
        ].join('\n'),
      );
      return key;
    }
  }
}
