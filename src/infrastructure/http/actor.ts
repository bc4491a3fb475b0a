import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import { CommandContext, userContext } from '../../application/event-envelope';
import type { AuthenticatedRequest } from './access.guard';
import { ACTOR_NAME } from './api-tokens';

/**
 * Who is asking. With API tokens, the actor and role the AccessGuard authenticated; without
 * them, the caller names itself in `X-Actor` (default "operator"). A request id from
 * `X-Correlation-Id` is kept if given.
 */
export const RequestContext = createParamDecorator((_data: unknown, context: ExecutionContext): CommandContext =>
  contextOf(context.switchToHttp().getRequest<AuthenticatedRequest>()),
);

export function contextOf(request: AuthenticatedRequest): CommandContext {
  const correlation = sanitize(request.header('x-correlation-id'));
  const caller = request.custodiaCaller;
  if (caller) return userContext(caller.actor, correlation, caller.role);
  return userContext(sanitize(request.header('x-actor')) ?? 'operator', correlation);
}

function sanitize(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const trimmed = value.trim().slice(0, 100);
  return ACTOR_NAME.test(trimmed) ? trimmed : undefined;
}
