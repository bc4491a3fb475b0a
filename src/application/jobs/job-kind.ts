import type { ICommand } from '@nestjs/cqrs';
import type { z } from 'zod';
import type { BackupState, DomainEventType, EventOf, SourceState } from '../../domain';
import type { CommandContext } from '../event-envelope';

/** A failure as a worker or the process manager reports it: recorded in the job's failure event. */
export interface JobFailure {
  code: string;
  reason: string;
  retryable: boolean;
}

/** One job on the bus. `correlationId` ties the job's events to the request that caused it. */
export interface JobOf<K extends string, P> {
  jobId: string;
  kind: K;
  /** Jobs with the same key are handled in order (the source id, or the subject's stream). */
  key: string;
  attempt: number;
  correlationId?: string;
  payload: P;
}

/** What a request event asks for: the job's payload, its ordering key and the aggregate it settles. */
export interface RequestedJob<P> {
  key: string;
  aggregateId: string;
  payload: P;
}

/** The aggregates a request decision must see, by id (the process manager loads them first). */
export interface JobNeeds {
  sourceId?: string;
  backupId?: string;
}

/** The aggregates' states, loaded as `needs` asked. */
export interface JobLookups {
  source?: SourceState;
  backup?: BackupState;
}

/** Event types → the id of the aggregate whose open jobs they close. */
export type SettledBy = { [T in DomainEventType]?: (event: EventOf<T>) => string };

/**
 * Everything the control plane knows about one kind of job, in one place: what requests it,
 * what its payload and result look like (zod schemas: the bus, the process manager and the
 * worker check against the same ones), which commands its start, result and failure become, and
 * what settles it. The process manager decides over a table of these (`JOB_KINDS`); a new kind
 * of job is one descriptor here and one runner in src/worker/runners.
 */
export interface JobKindDescriptor<K extends string, P, R, C, T extends DomainEventType = DomainEventType> {
  readonly kind: K;
  readonly payload: z.ZodType<P, z.ZodTypeDef, unknown>;
  readonly result: z.ZodType<R, z.ZodTypeDef, unknown>;
  /** The event types that request a job of this kind (the job id derives from the event's id). */
  readonly requestedBy: readonly T[];
  /** The aggregates `request` must see for this event (none when omitted). */
  needs?(event: EventOf<T>): JobNeeds;
  /** The job the event asks for, or null when it must be ignored (the source is gone, a replay of a settled request). */
  request(event: EventOf<T>, seen: JobLookups): RequestedJob<P> | null;
  /** Events that close this kind's open jobs. */
  readonly settledBy: SettledBy;
  /** Events that close them and tell the workers to stop them. */
  readonly cancelledBy?: SettledBy;
  /** The command a worker's start becomes; null when the aggregate does not record starts. */
  start(job: JobOf<K, P>, attempt: number): C | null;
  complete(job: JobOf<K, P>, result: R): C;
  fail(job: JobOf<K, P>, failure: JobFailure): C;
  /** The CommandBus message for one of its commands: each kind acts on one aggregate type. */
  message(command: C, context: CommandContext): ICommand;
  /**
   * The public sentence for an engine INVALID_ARGUMENT in this kind of job: the engine's message
   * only when it quotes nothing but what the request carried, else the kind's own sentence.
   */
  invalidArgumentReason(job: JobOf<K, P>, engineMessage: string): string;
}

/** Lets a descriptor be written with its types inferred and checked against the interface. */
export function jobKind<K extends string, P, R, C, T extends DomainEventType>(
  descriptor: JobKindDescriptor<K, P, R, C, T>,
): JobKindDescriptor<K, P, R, C, T> {
  return descriptor;
}
