import { CanActivate, ExecutionContext, ForbiddenException, Inject, Injectable, SetMetadata, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { GqlContextType, GqlExecutionContext } from '@nestjs/graphql';
import type { Request } from 'express';
import { grants, Permission } from '../../application/access-control';
import { CONFIGURATION } from '../configuration.token';
import type { Configuration } from '../config/configuration';
import { ApiCaller } from './api-tokens';
import type { ApiTokenFile } from './api-token-file';

const REQUIRES = 'custodia:requires';
const PUBLIC = 'custodia:public';

/**
 * The permission an API operation needs (any one of several, where the operation itself then
 * checks which applies: see RestoreRequests.requestRestore). An operation without it is refused
 * whenever tokens are in use, so a new endpoint is closed until someone decides who may call it.
 */
export const Requires = (...permissions: Permission[]) => SetMetadata(REQUIRES, permissions);

/** An operation anyone may call, token or not (the health check): it must reveal nothing. */
export const Public = () => SetMetadata(PUBLIC, true);

/** The request as the guard leaves it: with the authenticated caller, when tokens are in use. */
export interface AuthenticatedRequest extends Request {
  custodiaCaller?: ApiCaller;
}

/**
 * Authenticates every REST and GraphQL call by its bearer token (CUSTODIA_API_TOKENS_FILE) and
 * checks its role against the operation's permission. Without a tokens file it lets every call
 * through, and callers name themselves in X-Actor (configuration allows that on loopback only).
 */
@Injectable()
export class AccessGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    @Inject(CONFIGURATION) private readonly config: Configuration,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const tokens = this.config.apiTokens;
    if (tokens === null) return true;
    if (this.reflector.getAllAndOverride<boolean | undefined>(PUBLIC, [context.getHandler(), context.getClass()])) return true;
    const request = requestOf(context);
    const caller = authenticate(request, tokens);
    const needed = this.reflector.getAllAndOverride<Permission[] | undefined>(REQUIRES, [context.getHandler(), context.getClass()]) ?? [];
    if (!needed.some((permission) => grants(caller.role, permission))) {
      throw new ForbiddenException({
        code: 'FORBIDDEN',
        message: `the role ${caller.role} may not do this (it needs ${describe(needed)})`,
      });
    }
    request.custodiaCaller = caller;
    return true;
  }
}

function requestOf(context: ExecutionContext): AuthenticatedRequest {
  if (context.getType<GqlContextType>() === 'graphql') {
    return GqlExecutionContext.create(context).getContext<{ req: AuthenticatedRequest }>().req;
  }
  return context.switchToHttp().getRequest<AuthenticatedRequest>();
}

/** The caller the request's bearer token names; 401 UNAUTHENTICATED without a valid one. */
export function authenticate(request: Request, tokens: ApiTokenFile): ApiCaller {
  const token = bearerToken(request);
  const caller = token === null ? null : tokens.authenticate(token);
  if (caller === null) {
    throw new UnauthorizedException({
      code: 'UNAUTHENTICATED',
      message: token === null ? 'this API needs "Authorization: Bearer <token>"' : 'the bearer token is not valid',
    });
  }
  return caller;
}

function bearerToken(request: Request): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(request.header('authorization') ?? '');
  return match ? match[1] : null;
}

function describe(permissions: Permission[]): string {
  return permissions.length === 0 ? 'a permission no role has' : permissions.join(' or ');
}
