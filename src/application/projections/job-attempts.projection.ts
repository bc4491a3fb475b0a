import { Transaction } from 'kysely';
import { DomainEvent } from '../../domain';
import { toDomainEvent } from '../event-envelope';
import { RecordedEvent } from '../ports/event-store';
import { Projection } from './projection';
import { JobAttemptsTable, ReadModelDatabase } from './read-model';

/**
 * Each attempt of each job (from the job streams, domain/job.ts): the worker that took it, when,
 * and how it ended when it did not finish the job. The catalog shows them as a backup's or
 * restore's `attempts`.
 */
export class JobAttemptsProjection implements Projection {
  readonly name = 'job-attempts';
  readonly tables: (keyof ReadModelDatabase)[] = ['job_attempts'];

  async apply(trx: Transaction<ReadModelDatabase>, recorded: RecordedEvent): Promise<void> {
    const event: DomainEvent = toDomainEvent(recorded);
    switch (event.type) {
      case 'JobAttemptStarted':
        return upsert(trx, event.data, { worker: event.data.worker, started_at: event.data.at });
      case 'JobAttemptEnded':
        return upsert(trx, event.data, { ended_at: event.data.at, outcome: event.data.outcome, code: event.data.code });
      case 'JobRedispatched':
        return upsert(trx, event.data, { dispatched_at: event.data.at });
      default:
        return;
    }
  }
}

type AttemptFacts = Partial<Pick<JobAttemptsTable, 'worker' | 'started_at' | 'ended_at' | 'outcome' | 'code' | 'dispatched_at'>>;

/** The row of one attempt, created by whichever of its facts comes first. */
async function upsert(
  trx: Transaction<ReadModelDatabase>,
  job: { jobId: string; kind: string; aggregateId: string; attempt: number },
  facts: AttemptFacts,
): Promise<void> {
  await trx
    .insertInto('job_attempts')
    .values({
      job_id: job.jobId,
      attempt: job.attempt,
      kind: job.kind,
      aggregate_id: job.aggregateId,
      worker: null,
      started_at: null,
      ended_at: null,
      outcome: null,
      code: null,
      dispatched_at: null,
      ...facts,
    })
    .onConflict((oc) => oc.columns(['job_id', 'attempt']).doUpdateSet(facts))
    .execute();
}
