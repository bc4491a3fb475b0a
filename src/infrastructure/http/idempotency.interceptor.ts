import { CallHandler, ConflictException, ExecutionContext, Inject, Injectable, NestInterceptor } from '@nestjs/common';
import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import { from, Observable, of, switchMap, tap } from 'rxjs';
import { ReadModel } from '../../application/projections/read-model';
import { READ_MODEL } from '../../application/tokens';

/**
 * `Idempotency-Key` on a POST, PATCH or DELETE: the first successful answer is stored and
 * replayed for a repeat of the same request, so a client retrying after a timeout never creates
 * a second backup. The same key with a different request is a 409.
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  constructor(@Inject(READ_MODEL) private readonly db: ReadModel) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const http = context.switchToHttp();
    const request = http.getRequest<Request>();
    const response = http.getResponse<Response>();
    const key = request.header('idempotency-key');
    if (!key || request.method === 'GET') return next.handle();
    if (key.length > 200)
      throw new ConflictException({ code: 'IDEMPOTENCY_KEY_INVALID', message: 'Idempotency-Key must be at most 200 characters' });
    const fingerprint = createHash('sha256')
      .update(`${request.method} ${request.path} ${JSON.stringify(request.body ?? null)}`)
      .digest('hex');
    return from(this.db.selectFrom('idempotency_keys').selectAll().where('key', '=', key).executeTakeFirst()).pipe(
      switchMap((stored) => {
        if (stored) {
          if (stored.fingerprint !== fingerprint) {
            throw new ConflictException({
              code: 'IDEMPOTENCY_KEY_REUSED',
              message: 'this Idempotency-Key was used for a different request',
            });
          }
          response.status(Number(stored.status_code));
          response.setHeader('Idempotent-Replayed', 'true');
          return of(JSON.parse(stored.body) as unknown);
        }
        return next.handle().pipe(
          tap({
            next: (body) => {
              void this.db
                .insertInto('idempotency_keys')
                .values({
                  key,
                  fingerprint,
                  status_code: response.statusCode,
                  body: JSON.stringify(body ?? null),
                  created_at: new Date().toISOString(),
                })
                .onConflict((oc) => oc.column('key').doNothing())
                .execute();
            },
          }),
        );
      }),
    );
  }
}
