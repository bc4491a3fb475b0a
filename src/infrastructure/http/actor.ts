import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { CommandContext, userContext } from '../../application/event-envelope';

/**
 * Who is asking. Authentication is not part of this service yet: the caller names itself in
 * `X-Actor` (default "operator"), and a request id from `X-Correlation-Id` is kept if given.
 */
export const RequestContext = createParamDecorator((_data: unknown, context: ExecutionContext): CommandContext =>
  contextOf(context.switchToHttp().getRequest<Request>()),
);

export function contextOf(request: Request): CommandContext {
  const actor = sanitize(request.header('x-actor')) ?? 'operator';
  const correlation = sanitize(request.header('x-correlation-id'));
  return correlation ? userContext(actor, correlation) : userContext(actor);
}

function sanitize(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const trimmed = value.trim().slice(0, 100);
  return /^[\w.:@-]+$/.test(trimmed) ? trimmed : undefined;
}
