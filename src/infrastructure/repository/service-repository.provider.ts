import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Logger } from '@nestjs/common';
import { EngineError, objectStoreFromLocation, Repository } from '../../engine';
import { RepositoryProvider } from '../../worker/repository-provider';
import { Configuration } from '../config/configuration';

/**
 * The service's repository: REPOSITORY (a folder, by default DATA_DIR/repository, or an S3
 * location), created on first start. Its passphrase is CUSTODIA_PASSPHRASE or, for a local
 * folder when unset, a random key file generated once in DATA_DIR (mode 0600) so that the quick
 * start needs no setting.
 */
export class ServiceRepositoryProvider implements RepositoryProvider {
  private readonly logger = new Logger('Repository');
  private opening: Promise<Repository> | null = null;

  constructor(private readonly config: Configuration) {}

  get location(): string {
    return this.config.repositoryLocation;
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
    const store = objectStoreFromLocation(this.location);
    const exists = (await store.stat('config')) !== null;
    const passphrase = this.config.passphrase ?? (await this.keyFilePassphrase(exists));
    if (exists) return Repository.open(store, passphrase);
    if (this.config.storage === 'fs') await fs.mkdir(this.location, { recursive: true, mode: 0o700 });
    this.logger.log(`creating the backup repository at ${this.location}`);
    return Repository.init(store, passphrase, { kdfCost: { N: this.config.kdfN, r: 8, p: 1 } });
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
