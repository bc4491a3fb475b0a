import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import { GqlExecutionContext } from '@nestjs/graphql';
import type { Request } from 'express';
import { CommandContext } from '../../application/event-envelope';
import { contextOf } from '../http/actor';

/** Who is asking, from the HTTP request that carried the GraphQL operation (as RequestContext on REST). */
export const GraphQLRequestContext = createParamDecorator((_data: unknown, context: ExecutionContext): CommandContext =>
  contextOf(GqlExecutionContext.create(context).getContext<{ req: Request }>().req),
);
