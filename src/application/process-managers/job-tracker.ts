import { Logger } from '@nestjs/common';
import { jobProblem } from '../jobs/messages';
import { Job, JobProgress } from '../ports/job-bus';
import { JobsTable, ReadModel } from '../projections/read-model';

const logger = new Logger('JobTracker');

export type TrackedJobStatus = 'dispatched' | 'running' | 'done';

export interface TrackedJob {
  job: Job;
  aggregateId: string;
  status: TrackedJobStatus;
  updatedAt: string;
}

/**
 * The process managers' durable memory of the jobs they handed out: which are still open, at
 * which attempt, and when a worker was last heard from. It is what lets a restarted service
 * re-dispatch lost jobs and fail silent ones, so no request stays open forever.
 */
export class JobTracker {
  constructor(private readonly db: ReadModel) {}

  /** Records a job once; false if it was recorded before (a redelivered event). */
  async record(job: Job, aggregateId: string, at: string): Promise<boolean> {
    const result = await this.db
      .insertInto('jobs')
      .values({
        job_id: job.jobId,
        kind: job.kind,
        aggregate_id: aggregateId,
        job_key: job.key,
        payload: JSON.stringify({ payload: job.payload, correlationId: job.correlationId }),
        attempt: job.attempt,
        status: 'dispatched',
        updated_at: at,
        progress: null,
      })
      .onConflict((oc) => oc.column('job_id').doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async get(jobId: string): Promise<TrackedJob | undefined> {
    const row = await this.db.selectFrom('jobs').selectAll().where('job_id', '=', jobId).executeTakeFirst();
    return (row && toTracked(row)) ?? undefined;
  }

  /**
   * Records `attempt` as handed out; false when the job is done or already at that attempt or a
   * later one (a second supervision pass over the same silence), so an attempt goes out once.
   */
  async markDispatched(jobId: string, attempt: number, at: string): Promise<boolean> {
    const result = await this.db
      .updateTable('jobs')
      .where('job_id', '=', jobId)
      .where('status', '!=', 'done')
      .where('attempt', '<', attempt)
      .set({ status: 'dispatched', attempt, updated_at: at, progress: null })
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async markRunning(jobId: string, at: string): Promise<void> {
    await this.db
      .updateTable('jobs')
      .where('job_id', '=', jobId)
      .where('status', '!=', 'done')
      .set({ status: 'running', updated_at: at })
      .execute();
  }

  async touch(jobId: string, at: string, progress?: JobProgress): Promise<void> {
    await this.db
      .updateTable('jobs')
      .where('job_id', '=', jobId)
      .where('status', '!=', 'done')
      .set({ updated_at: at, ...(progress && { progress: JSON.stringify(progress) }) })
      .execute();
  }

  /** The last progress a worker reported for an aggregate's open job, if any. */
  async progressOf(aggregateId: string): Promise<JobProgress | null> {
    const row = await this.db
      .selectFrom('jobs')
      .select('progress')
      .where('aggregate_id', '=', aggregateId)
      .where('status', '!=', 'done')
      .executeTakeFirst();
    return row?.progress ? (JSON.parse(row.progress) as JobProgress) : null;
  }

  async markDone(jobId: string, at: string): Promise<void> {
    await this.db.updateTable('jobs').where('job_id', '=', jobId).set({ status: 'done', updated_at: at }).execute();
  }

  async openFor(aggregateId: string): Promise<TrackedJob[]> {
    const rows = await this.db
      .selectFrom('jobs')
      .selectAll()
      .where('aggregate_id', '=', aggregateId)
      .where('status', '!=', 'done')
      .execute();
    return readable(rows);
  }

  /** Every open job: queued for a worker (dispatched) or running. */
  async open(): Promise<TrackedJob[]> {
    return readable(await this.db.selectFrom('jobs').selectAll().where('status', '!=', 'done').orderBy('updated_at').execute());
  }

  /**
   * Running jobs whose worker has not been heard from since `before`. A job still queued for a
   * free worker is never silent: waiting is not a failure, and supervision starts when a worker
   * takes the job (its `started` report).
   */
  async silentSince(before: string): Promise<TrackedJob[]> {
    const rows = await this.db
      .selectFrom('jobs')
      .selectAll()
      .where('status', '=', 'running')
      .where('updated_at', '<', before)
      .orderBy('updated_at')
      .execute();
    return readable(rows);
  }
}

/**
 * A stored job, checked against its kind's schema like a job on the bus: a row this build cannot
 * read (a kind it does not know, written by a newer one, or a damaged payload) is left alone with
 * a warning, never handed to a worker or a decision half-read.
 */
function toTracked(row: JobsTable): TrackedJob | null {
  let stored: { payload?: unknown; correlationId?: unknown };
  try {
    stored = JSON.parse(row.payload) as typeof stored;
  } catch {
    return unreadable(row, 'its payload is not JSON');
  }
  const correlationId = typeof stored.correlationId === 'string' ? stored.correlationId : undefined;
  const candidate = {
    jobId: row.job_id,
    kind: row.kind,
    key: row.job_key,
    attempt: Number(row.attempt),
    payload: stored.payload,
    ...(correlationId !== undefined && { correlationId }),
  };
  const problem = jobProblem(candidate);
  if (problem !== undefined) return unreadable(row, problem);
  return { job: candidate as Job, aggregateId: row.aggregate_id, status: row.status as TrackedJobStatus, updatedAt: row.updated_at };
}

function unreadable(row: JobsTable, problem: string): null {
  logger.warn(`job ${row.job_id} (${row.kind}) in the job table cannot be read and is left alone: ${problem}`);
  return null;
}

function readable(rows: JobsTable[]): TrackedJob[] {
  return rows.map(toTracked).filter((tracked): tracked is TrackedJob => tracked !== null);
}
