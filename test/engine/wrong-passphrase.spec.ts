import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { EngineError, FsObjectStore, Repository } from '../../src/engine';
import { expectCliError, runCli, runCliOk } from '../support/cli';
import { initRepository } from '../support/repository';
import { useTempDirs } from '../support/temp-dirs';

/** A wrong passphrase is a plain, recognisable error, never a crash or a stack trace. */
describe('wrong passphrase', () => {
  const tempDir = useTempDirs();
  let repoPath: string;

  beforeAll(async () => {
    repoPath = path.join(await tempDir('passphrase'), 'repo');
    await initRepository(repoPath, 'the right one');
  });

  it('makes Repository.open throw EngineError WRONG_PASSPHRASE', async () => {
    const opening = Repository.open(new FsObjectStore(repoPath), 'the wrong one');
    await expect(opening).rejects.toBeInstanceOf(EngineError);
    await expect(opening).rejects.toMatchObject({ code: 'WRONG_PASSPHRASE', exitCode: 12 });
  });

  it('still opens with the right passphrase afterwards', async () => {
    const repository = await Repository.open(new FsObjectStore(repoPath), 'the right one');
    expect(repository.config.format).toBe('custodia-repository');
  });

  it('makes the CLI exit 12 with one error line and no stack trace', async () => {
    const result = await runCli(['snapshots', '--repo', repoPath], { passphrase: 'the wrong one' });
    const line = expectCliError(result, 'WRONG_PASSPHRASE', 12);
    expect(line).toContain(repoPath);
    expect(result.stdout).toBe('');
  });

  it('applies to a passphrase file too', async () => {
    const file = path.join(path.dirname(repoPath), 'passphrase.txt');
    await fs.writeFile(file, 'the wrong one\n');
    expectCliError(await runCli(['check', '--repo', repoPath, '--passphrase-file', file], { passphrase: null }), 'WRONG_PASSPHRASE', 12);
    await fs.writeFile(file, 'the right one\n');
    await runCliOk(['check', '--repo', repoPath, '--passphrase-file', file], { passphrase: null });
  });
});
