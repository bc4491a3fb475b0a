import { Command } from 'commander';
import { EngineError, findSubjectData, hmacPseudonymiser, Pseudonymiser } from '../engine';
import { formatBytes, printJson } from './output';
import { openRepository, RepositoryFlags, withRepository } from './repository-options';

export const PSEUDONYM_SECRET_ENV = 'CUSTODIA_PSEUDONYM_SECRET';

/**
 * Pseudonymisation for subject rules and subject ids given on the command line: HMAC-SHA256
 * under CUSTODIA_PSEUDONYM_SECRET. The same secret must be used for every backup, erasure and
 * access request of a repository, or the pseudonyms will not match.
 */
export function pseudonymiserFromEnv(why: string): Pseudonymiser {
  const secret = process.env[PSEUDONYM_SECRET_ENV];
  if (!secret) {
    throw new EngineError(
      'PSEUDONYM_SECRET_MISSING',
      `${why} needs the pseudonym secret: set ${PSEUDONYM_SECRET_ENV} (the same secret for every backup of the repository)`,
    );
  }
  return hmacPseudonymiser(secret);
}

/** The pseudonym for a subject given on the command line: an external id, or a pseudonym with --pseudonym. */
export function subjectPseudonym(subject: string, isPseudonym: boolean | undefined, why: string): string {
  if (subject === '') throw new EngineError('INVALID_ARGUMENT', 'the subject id is empty');
  return isPseudonym ? subject : pseudonymiserFromEnv(why)(subject);
}

export function registerSubjectCommands(program: Command): void {
  const subject = program
    .command('subject')
    .description(`data subjects: erase one (crypto-shredding) or find their data; ids are pseudonymised with ${PSEUDONYM_SECRET_ENV}`);

  withRepository(subject.command('shred').description("erase a data subject from every backup by destroying the subject's keys"))
    .argument('<subject>', 'the external id (e.g. the e-mail address the subject rule matched), or a pseudonym with --pseudonym')
    .option('--pseudonym', 'the argument is the pseudonym itself')
    .option('--json', 'print the result as JSON')
    .action(async (id: string, flags: RepositoryFlags & { pseudonym?: boolean; json?: boolean }) => {
      const pseudonym = subjectPseudonym(id, flags.pseudonym, 'subject shred');
      const repository = await openRepository(flags, { loadIndex: false });
      const result = await repository.keyVault.shred(pseudonym);
      if (flags.json) {
        printJson({ message_type: 'shredded', pseudonym, keys_shredded: result.keysShredded, status: result.status });
      } else if (result.keysShredded > 0) {
        console.log(`subject ${pseudonym} erased: ${result.keysShredded} key(s) shredded; its data in every backup can no longer be read`);
      } else if (result.status === 'shredded') {
        console.log(`subject ${pseudonym} was erased before: nothing left to shred`);
      } else {
        console.log(`subject ${pseudonym} has no key in this repository (no backup holds data of it): nothing to shred`);
      }
    });

  withRepository(subject.command('find').description('list the backups holding data of a data subject (counts only; no key needed)'))
    .argument('<subject>', 'the external id, or a pseudonym with --pseudonym')
    .option('--pseudonym', 'the argument is the pseudonym itself')
    .option('--json', 'print the result as JSON')
    .action(async (id: string, flags: RepositoryFlags & { pseudonym?: boolean; json?: boolean }) => {
      const pseudonym = subjectPseudonym(id, flags.pseudonym, 'subject find');
      const repository = await openRepository(flags);
      const found = await findSubjectData(repository, pseudonym);
      if (flags.json) {
        printJson({ message_type: 'subject', ...found });
      } else {
        console.log(`subject ${pseudonym}: key ${found.status}`);
        for (const data of found.snapshots) {
          console.log(
            `  snapshot ${data.snapshotId.slice(0, 8)}  ${data.time}  ${data.files} file(s), ${formatBytes(data.bytes)} in ${data.entries} sealed entr${data.entries === 1 ? 'y' : 'ies'}`,
          );
        }
        console.log(`${found.snapshots.length} snapshot(s) hold data of this subject`);
      }
      for (const error of found.errors) console.error(`custodia: ${error}`);
      if (found.errors.length > 0) process.exitCode = 1;
    });
}
