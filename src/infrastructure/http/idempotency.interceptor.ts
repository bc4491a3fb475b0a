import { BadRequestException, CallHandler, ConflictException, ExecutionContext, Inject, Injectable, NestInterceptor } from '@nestjs/common';
import { GqlContextType, GqlExecutionContext } from '@nestjs/graphql';
import type { Response } from 'express';
import { GraphQLResolveInfo, OperationTypeNode } from 'graphql';
import { catchError, concatMap, from, Observable, of, switchMap } from 'rxjs';
import { IdempotencyTable, ReadModel } from '../../application/projections/read-model';
import { SubjectPseudonyms } from '../../application/ports/pseudonyms';
import { READ_MODEL, SUBJECT_PSEUDONYMS } from '../../application/tokens';
import type { AuthenticatedRequest } from './access.guard';

/** One request that may carry an Idempotency-Key: what identifies it, and where its answer goes. */
interface IdempotentCall {
  key: string | undefined;
  request: AuthenticatedRequest;
  /** The HTTP response: the REST answer's, or the one carrying the GraphQL answer. */
  response: Response | undefined;
  /** "POST /backups", or "graphql requestBackup". */
  operation: string;
  input: unknown;
}

/** A REST command: POST, PATCH or DELETE. */
function restCall(context: ExecutionContext): IdempotentCall | null {
  const http = context.switchToHttp();
  const request = http.getRequest<AuthenticatedRequest>();
  if (request.method === 'GET') return null;
  return {
    key: request.header('idempotency-key'),
    request,
    response: http.getResponse<Response>(),
    operation: `${request.method} ${request.path}`,
    input: request.body,
  };
}

/**
 * A GraphQL mutation field, i.e. one command (a request carries at most one: see
 * graphql/limits.ts): its name and arguments identify it; the stored answer is the field's value,
 * which GraphQL then shapes by the selection as usual.
 */
function graphQLCall(context: ExecutionContext): IdempotentCall | null {
  const gql = GqlExecutionContext.create(context);
  const info = gql.getInfo<GraphQLResolveInfo>();
  if (info.operation.operation !== OperationTypeNode.MUTATION || info.parentType.name !== 'Mutation') return null;
  const { req, res } = gql.getContext<{ req: AuthenticatedRequest; res?: Response }>();
  return { key: req.header('idempotency-key'), request: req, response: res, operation: `graphql ${info.fieldName}`, input: gql.getArgs() };
}

/** status_code of a key whose first request is still being handled. */
const IN_PROGRESS = 0;

/**
 * A key still in progress after this long was held by a process that died mid-request (a
 * command is answered in milliseconds; the HTTP server drops a request after Node's five-minute
 * request timeout): the next request with it takes it over instead of a 409 until the key expires.
 */
export const ABANDONED_AFTER_MS = 5 * 60_000;

/** How long a key is remembered: a client retries within minutes, not days. */
const KEY_LIFETIME_MS = 24 * 3_600_000;
const PURGE_INTERVAL_MS = 60_000;

/**
 * `Idempotency-Key` on a POST, PATCH or DELETE, or on a GraphQL mutation: the first successful answer is stored and
 * replayed for a repeat of the same request, so a client retrying after a timeout never creates
 * a second backup. The key is reserved (inserted) before the request runs, so two identical
 * requests arriving together cannot both act: the second gets a 409 until the first has answered.
 * A failed request releases its key, so the client can retry. The same key with a different
 * request is a 409.
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  private purgedAt = 0;

  constructor(
    @Inject(READ_MODEL) private readonly db: ReadModel,
    @Inject(SUBJECT_PSEUDONYMS) private readonly pseudonyms: SubjectPseudonyms,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const call = context.getType<GqlContextType>() === 'graphql' ? graphQLCall(context) : restCall(context);
    if (call === null || !call.key) return next.handle();
    if (call.key.length > 200)
      throw new BadRequestException({ code: 'IDEMPOTENCY_KEY_INVALID', message: 'Idempotency-Key must be at most 200 characters' });
    // The caller is part of the request: another caller reusing a key gets a 409, never the
    // first caller's answer. The fingerprint is keyed (HMAC under the pseudonym secret): a body
    // may hold a data subject's id, and a plain hash of it could be matched against guesses.
    const caller = call.request.custodiaCaller?.actor ?? call.request.header('x-actor') ?? '';
    const fingerprint = this.pseudonyms.pseudonymOf(`idempotency ${caller} ${call.operation} ${JSON.stringify(call.input ?? null)}`);
    const key = call.key;
    return from(this.reserve(key, fingerprint)).pipe(
      switchMap((stored) => {
        if (stored) return of(this.replay(stored, fingerprint, call.response, call.operation.startsWith('graphql ')));
        return next.handle().pipe(
          concatMap((body) => from(this.complete(key, call.response?.statusCode ?? 200, body)).pipe(concatMap(() => of(body)))),
          catchError((error: unknown) => from(this.release(key)).pipe(concatMap(() => Promise.reject(error)))),
        );
      }),
    );
  }

  /** Inserts the key as in progress; returns the existing row if someone else holds it. */
  private async reserve(key: string, fingerprint: string): Promise<IdempotencyTable | undefined> {
    await this.purgeExpired();
    const inserted = await this.db
      .insertInto('idempotency_keys')
      .values({ key, fingerprint, status_code: IN_PROGRESS, body: 'null', created_at: new Date().toISOString() })
      .onConflict((oc) => oc.column('key').doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0) return undefined;
    const held = await this.db.selectFrom('idempotency_keys').selectAll().where('key', '=', key).executeTakeFirstOrThrow();
    if (Number(held.status_code) === IN_PROGRESS && Date.parse(held.created_at) < Date.now() - ABANDONED_AFTER_MS) {
      // Taken over only if nobody else took it over first (same row as read).
      const taken = await this.db
        .updateTable('idempotency_keys')
        .where('key', '=', key)
        .where('status_code', '=', IN_PROGRESS)
        .where('created_at', '=', held.created_at)
        .set({ fingerprint, created_at: new Date().toISOString() })
        .executeTakeFirst();
      if (Number(taken.numUpdatedRows) > 0) return undefined;
      return this.db.selectFrom('idempotency_keys').selectAll().where('key', '=', key).executeTakeFirstOrThrow();
    }
    return held;
  }

  private replay(stored: IdempotencyTable, fingerprint: string, response: Response | undefined, graphQL: boolean): unknown {
    if (stored.fingerprint !== fingerprint) {
      throw new ConflictException({ code: 'IDEMPOTENCY_KEY_REUSED', message: 'this Idempotency-Key was used for a different request' });
    }
    if (Number(stored.status_code) === IN_PROGRESS) {
      throw new ConflictException({
        code: 'IDEMPOTENCY_KEY_IN_PROGRESS',
        message: 'a request with this Idempotency-Key is still being handled; retry shortly',
      });
    }
    // On GraphQL the answer is the mutation field's value, and the status stays Apollo's.
    if (response && !response.headersSent) {
      if (!graphQL) response.status(Number(stored.status_code));
      response.setHeader('Idempotent-Replayed', 'true');
    }
    return JSON.parse(stored.body) as unknown;
  }

  private async complete(key: string, statusCode: number, body: unknown): Promise<void> {
    await this.db
      .updateTable('idempotency_keys')
      .where('key', '=', key)
      .set({ status_code: statusCode, body: JSON.stringify(body ?? null) })
      .execute();
  }

  /** Forgets keys older than a day (at most once a minute): stored answers are not kept for ever. */
  private async purgeExpired(): Promise<void> {
    const now = Date.now();
    if (now - this.purgedAt < PURGE_INTERVAL_MS) return;
    this.purgedAt = now;
    const before = new Date(now - KEY_LIFETIME_MS).toISOString();
    await this.db.deleteFrom('idempotency_keys').where('created_at', '<', before).execute();
  }

  private async release(key: string): Promise<void> {
    await this.db.deleteFrom('idempotency_keys').where('key', '=', key).where('status_code', '=', IN_PROGRESS).execute();
  }
}
