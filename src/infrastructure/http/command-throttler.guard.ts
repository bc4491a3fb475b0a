import { ExecutionContext, HttpException, HttpStatus, Injectable } from '@nestjs/common';
import { GqlContextType, GqlExecutionContext } from '@nestjs/graphql';
import { ThrottlerGuard, ThrottlerLimitDetail } from '@nestjs/throttler';
import { GraphQLResolveInfo, OperationTypeNode } from 'graphql';
import type { AuthenticatedRequest } from './access.guard';

/**
 * The rate limit on commands (RATE_LIMIT_COMMANDS_PER_MINUTE): REST POST, PATCH and DELETE, and
 * GraphQL mutations, counted per token's actor, or per client address without tokens (where
 * X-Actor is the caller's own claim and could be varied at will). Reads are not limited. Over
 * the limit: 429 RATE_LIMITED with Retry-After (seconds). Runs after the AccessGuard, which
 * names the caller.
 */
@Injectable()
export class CommandThrottlerGuard extends ThrottlerGuard {
  protected override shouldSkip(context: ExecutionContext): Promise<boolean> {
    if (context.getType<GqlContextType>() === 'graphql') {
      const info = GqlExecutionContext.create(context).getInfo<GraphQLResolveInfo>();
      return Promise.resolve(info.operation.operation !== OperationTypeNode.MUTATION || info.parentType.name !== 'Mutation');
    }
    const method = context.switchToHttp().getRequest<AuthenticatedRequest>().method;
    return Promise.resolve(method === 'GET' || method === 'HEAD' || method === 'OPTIONS');
  }

  protected override getTracker(req: Record<string, unknown>): Promise<string> {
    const request = req as unknown as AuthenticatedRequest;
    const actor = request.custodiaCaller?.actor;
    return Promise.resolve(actor !== undefined ? `actor:${actor}` : `ip:${request.ip ?? 'unknown'}`);
  }

  /** One count per caller over all commands (the default keys on the handler, a count per endpoint). */
  protected override generateKey(_context: ExecutionContext, tracker: string, name: string): string {
    return `commands:${name}:${tracker}`;
  }

  protected override getRequestResponse(context: ExecutionContext): { req: Record<string, unknown>; res: Record<string, unknown> } {
    if (context.getType<GqlContextType>() === 'graphql') {
      return GqlExecutionContext.create(context).getContext<{ req: Record<string, unknown>; res: Record<string, unknown> }>();
    }
    return super.getRequestResponse(context);
  }

  protected override throwThrottlingException(_context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    throw new HttpException(
      {
        code: 'RATE_LIMITED',
        message: `more than ${detail.limit} commands a minute from this caller; retry in ${detail.timeToBlockExpire} s`,
      },
      HttpStatus.TOO_MANY_REQUESTS,
    );
  }
}
