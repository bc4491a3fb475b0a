import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { EngineError } from '../engine';
import { ApiClient } from './api-client';
import { collect, printJson } from './output';

interface ConnectionFlags {
  url?: string;
  tokenFile?: string;
}

interface WaitFlags {
  wait?: boolean;
  timeout: string;
}

/**
 * `custodia api ...`: the service's commands and queries from a shell, over its REST API. Unlike
 * the engine commands (which work on a repository directly and record nothing), these run the
 * same commands as REST and GraphQL: each is an event, an audit entry and a worker job.
 * The answers are printed as JSON.
 */
export function registerApiCommands(program: Command): void {
  const api = program
    .command('api')
    .description('talk to a running service: request backups, restores and erasures, read the catalog and the audit trail')
    .option('--url <url>', 'the service (default CUSTODIA_URL or http://127.0.0.1:3000)')
    .option('--token-file <file>', 'a file holding the bearer token (default: the CUSTODIA_TOKEN variable)')
    .addHelpText('after', "\nA service without tokens takes the caller's name from CUSTODIA_ACTOR (sent as X-Actor).");
  const client = () => ApiClient.connect(api.opts<ConnectionFlags>());

  const sources = api.command('sources').description('the folders the service backs up');
  sources
    .command('list')
    .option('--include-removed', 'also removed sources')
    .action(async (flags: { includeRemoved?: boolean }) =>
      print(await client().get(`/sources${query({ includeRemoved: flags.includeRemoved })}`)),
    );
  sources
    .command('add')
    .description('register a source (a folder on the server)')
    .requiredOption('--name <name>', 'a name for the source')
    .requiredOption('--path <path>', 'the folder, as the service sees it')
    .option('--subject-rule <template>', 'e.g. "customers/{subject}/**" (repeatable)', collect, [])
    .option('--category <category>', 'a category of personal data held (repeatable)', collect, [])
    .option('--purpose <purpose>', 'a purpose of the processing (repeatable)', collect, [])
    .action(async (flags: { name: string; path: string; subjectRule: string[]; category: string[]; purpose: string[] }) =>
      print(
        await client().post('/sources', {
          name: flags.name,
          path: flags.path,
          subjectRules: flags.subjectRule,
          dataCategories: flags.category,
          purposes: flags.purpose,
        }),
      ),
    );

  const backups = api.command('backups').description('request, list and delete backups');
  withWait(backups.command('request').description('RequestBackup: a worker backs the source up'))
    .requiredOption('--source <id>', 'the source id')
    .option('--type <type>', 'full or incremental', 'incremental')
    .action(async (flags: WaitFlags & { source: string; type: string }) => {
      const api = client();
      const accepted = await api.post<{ id: string }>('/backups', { sourceId: flags.source, type: flags.type });
      await printOrWait(api, `/backups/${accepted.id}`, accepted, flags);
    });
  backups
    .command('list')
    .option('--source <id>', 'only this source')
    .option('--status <status>', 'only this status')
    .option('--limit <n>', 'at most n (default 50)')
    .action(async (flags: { source?: string; status?: string; limit?: string }) =>
      print(await client().get(`/backups${query({ sourceId: flags.source, status: flags.status, limit: flags.limit })}`)),
    );
  backups
    .command('show')
    .argument('<id>')
    .action(async (id: string) => print(await client().get(`/backups/${encodeURIComponent(id)}`)));
  backups
    .command('delete')
    .description('delete a backup: a worker removes the snapshot and prunes its data (`backups show` tells when it is "deleted")')
    .argument('<id>')
    .action(async (id: string) => print(await client().delete(`/backups/${encodeURIComponent(id)}`)));

  const restores = api.command('restores').description('request and list restores');
  withWait(restores.command('request').description('RequestRestore: a worker restores the backup into a folder on the server'))
    .requiredOption('--backup <id>', 'the backup id')
    .requiredOption('--target <folder>', 'a new or empty folder inside the service’s RESTORE_ROOTS')
    .option('--include <path>', 'restore only this path (repeatable)', collect, [])
    .option('--subject <id>', `only this data subject's files: an access request (Art. 15); ${FROM_STDIN}`)
    .option('--purpose <text>', 'why the data is restored (recorded in the audit trail)')
    .action(async (flags: WaitFlags & { backup: string; target: string; include: string[]; subject?: string; purpose?: string }) => {
      const api = client();
      const accepted = await api.post<{ id: string }>('/restores', {
        backupId: flags.backup,
        target: flags.target,
        ...(flags.include.length > 0 && { include: flags.include }),
        ...(flags.subject !== undefined && { subjectId: subjectId(flags.subject) }),
        ...(flags.purpose !== undefined && { purpose: flags.purpose }),
      });
      await printOrWait(api, `/restores/${accepted.id}`, accepted, flags);
    });
  restores
    .command('list')
    .option('--backup <id>', 'only restores of this backup')
    .action(async (flags: { backup?: string }) => print(await client().get(`/restores${query({ backupId: flags.backup })}`)));
  restores
    .command('show')
    .argument('<id>')
    .action(async (id: string) => print(await client().get(`/restores/${encodeURIComponent(id)}`)));

  const subjects = api.command('subjects').description('data subjects (the id goes in the request body, never in a URL)');
  subjects
    .command('lookup')
    .description('which backups hold data of a subject (Art. 15); the lookup is audited')
    .requiredOption('--subject <id>', `the external id, as the subject rule matches it; ${FROM_STDIN}`)
    .action(async (flags: { subject: string }) => print(await client().post('/subjects/lookup', { subjectId: subjectId(flags.subject) })));
  withWait(subjects.command('erase').description("RequestErasure (Art. 17): a worker destroys the subject's keys in every backup"))
    .requiredOption('--subject <id>', `the external id, as the subject rule matches it; ${FROM_STDIN}`)
    .requiredOption('--legal-basis <text>', 'e.g. "Art. 17(1)(a)"')
    .requiredOption('--requested-by <who>', 'a role or staff id, or data-subject')
    .action(async (flags: WaitFlags & { subject: string; legalBasis: string; requestedBy: string }) => {
      const body = { subjectId: subjectId(flags.subject), legalBasis: flags.legalBasis, requestedBy: flags.requestedBy };
      const api = client();
      const accepted = await api.post<{ id: string }>('/erasures', body);
      await printOrWait(api, `/erasures/${accepted.id}`, accepted, flags);
    });

  const audit = api.command('audit').description('the audit trail, as a DPO or auditor reads it');
  audit
    .command('list')
    .option('--subject <pseudonym>', "only entries about this subject's pseudonym")
    .option('--actor <name>', 'only entries of this actor')
    .option('--limit <n>', 'at most n (default 50)')
    .action(async (flags: { subject?: string; actor?: string; limit?: string }) =>
      print(await client().get(`/audit${query({ subject: flags.subject, actor: flags.actor, limit: flags.limit })}`)),
    );
  audit
    .command('verify')
    .description('recompute the hash chain on the service; exit 1 when it is broken')
    .action(async () => {
      const result = await client().get<{ valid: boolean }>('/audit/verify');
      print(result);
      if (!result.valid) process.exitCode = 1;
    });
}

const FROM_STDIN = '"-" reads it from standard input (it is personal data: keep it out of the shell history)';

/** A subject id from the command line, or from standard input's first line for "-". */
function subjectId(value: string): string {
  if (value !== '-') return value;
  const id = readFileSync(0, 'utf8').split('\n')[0].trim();
  if (id === '') throw new EngineError('INVALID_ARGUMENT', 'standard input holds no subject id');
  return id;
}

/** Answers as the service gave them, indented for a person to read (still JSON for a script). */
const print = (value: unknown) => printJson(value, 2);

function withWait(command: Command): Command {
  return command
    .option('--wait', 'wait until it has settled, print the outcome, and exit 1 unless it completed')
    .option('--timeout <seconds>', 'how long --wait waits', '3600');
}

async function printOrWait(client: ApiClient, path: string, accepted: unknown, flags: WaitFlags): Promise<void> {
  if (!flags.wait) return print(accepted);
  const seconds = Number(flags.timeout);
  if (!Number.isFinite(seconds) || seconds <= 0)
    throw new EngineError('INVALID_ARGUMENT', '--timeout must be a positive number of seconds');
  const settled = await client.waitUntilSettled(path, seconds * 1000);
  print(settled);
  if (settled.status !== 'completed') process.exitCode = 1;
}

function query(parameters: Record<string, string | boolean | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(parameters)) if (value !== undefined) search.set(key, String(value));
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}
