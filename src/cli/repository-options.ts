import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { EngineError, FsObjectStore, Repository } from '../engine';

export interface RepositoryFlags {
  repo?: string;
  passphraseFile?: string;
}

/** Adds --repo and --passphrase-file to a command. */
export function withRepository(command: Command): Command {
  return command
    .option('--repo <dir>', 'repository folder (or set CUSTODIA_REPOSITORY)')
    .option('--passphrase-file <file>', 'read the passphrase from this file (or set CUSTODIA_PASSPHRASE)');
}

export function repositoryStore(flags: RepositoryFlags): FsObjectStore {
  const location = flags.repo ?? process.env.CUSTODIA_REPOSITORY;
  if (!location) throw new EngineError('INVALID_ARGUMENT', 'no repository given: pass --repo <dir> or set CUSTODIA_REPOSITORY');
  return new FsObjectStore(path.resolve(location));
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

export function openRepository(flags: RepositoryFlags, options?: { loadIndex?: boolean }): Promise<Repository> {
  const store = repositoryStore(flags);
  return Repository.open(store, readPassphrase(flags.passphraseFile), options);
}
