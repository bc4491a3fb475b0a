import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
import { unwrapResolverError } from '@apollo/server/errors';
import { HttpException, Logger } from '@nestjs/common';
import { GraphQLModule } from '@nestjs/graphql';
import type { Request, Response } from 'express';
import { GraphQLError, GraphQLFormattedError } from 'graphql';
import { DomainError } from '../../domain';
import type { ApiTokenFile } from '../http/api-token-file';
import { authenticate, AuthenticatedRequest } from '../http/access.guard';
import { apiErrorResponse } from '../http/error.filter';
import {
  costLimitPlugin,
  GRAPHQL_ERROR,
  GRAPHQL_LIMITS,
  GRAPHQL_VALIDATION_RULES,
  limitError,
  queryTextNesting,
  rateLimitStatusPlugin,
  responseSizePlugin,
} from './limits';

const logger = new Logger('GraphQL');

/**
 * GraphQL at /graphql, code first: the schema is generated from the resolver and type classes
 * at start (nothing to keep in sync by hand). Stack traces never go into error answers, nor do
 * "Did you mean …" suggestions. With API tokens (`tokens` not null), a request without a valid
 * one is refused before its query is even parsed (401 UNAUTHENTICATED, `{__typename}` included),
 * and introspection is off; without them (a loopback-only installation) introspection helps.
 * The limits (limits.ts) are checked before anything runs.
 */
export function graphQLModule(tokens: ApiTokenFile | null) {
  return GraphQLModule.forRoot<ApolloDriverConfig>({
    introspection: tokens === null,
    driver: ApolloDriver,
    path: '/graphql',
    autoSchemaFile: true,
    sortSchema: true,
    includeStacktraceInErrorResponses: false,
    hideSchemaDetailsFromClientErrors: true,
    parseOptions: { maxTokens: GRAPHQL_LIMITS.maxTokens },
    // No automatic persisted queries: no client of this API uses them, and their cache would be
    // one more thing a caller fills.
    persistedQueries: false,
    validationRules: GRAPHQL_VALIDATION_RULES,
    plugins: [costLimitPlugin(), responseSizePlugin(), rateLimitStatusPlugin()],
    // Codes are set by formatGraphQLError below, not by Nest's mapping of HTTP statuses (which
    // makes a 404 or 409 an INTERNAL_SERVER_ERROR).
    autoTransformHttpErrors: false,
    formatError: formatGraphQLError,
    // Runs before the query is parsed: the place for what must hold before anything else.
    context: ({ req, res }: { req: AuthenticatedRequest; res: Response }) => {
      if (tokens !== null) authenticateOperation(req, tokens);
      refuseDeepQueryText(req);
      return { req, res };
    },
  });
}

function authenticateOperation(req: Request, tokens: ApiTokenFile): void {
  try {
    (req as AuthenticatedRequest).custodiaCaller = authenticate(req, tokens);
  } catch (error) {
    const { body } = apiErrorResponse(error, logger);
    throw new GraphQLError(String(body.message), { extensions: { code: body.code, statusCode: 401, http: { status: 401 } } });
  }
}

function refuseDeepQueryText(req: Request): void {
  // POST carries the query in the body, GET in the query string.
  const query: unknown = (req.body as { query?: unknown } | undefined)?.query ?? (req.query as { query?: unknown } | undefined)?.query;
  if (typeof query !== 'string') return;
  if (queryTextNesting(query, GRAPHQL_LIMITS.maxTextNesting) > GRAPHQL_LIMITS.maxTextNesting) {
    throw limitError(`the query nests brackets more than ${GRAPHQL_LIMITS.maxTextNesting} levels deep`, GRAPHQL_ERROR.QUERY_TOO_DEEP);
  }
}

/** Apollo's own codes for what is wrong with the request, and ours (limits.ts) underneath them. */
const REQUEST_ERRORS = new Set(['GRAPHQL_VALIDATION_FAILED', 'GRAPHQL_PARSE_FAILED', 'BAD_REQUEST', 'BAD_USER_INPUT']);

/**
 * Every GraphQL error leaves with a stable code: a limit's own (limits.ts) rather than Apollo's
 * generic validation code; a client error (validation, not found, forbidden, conflict, rate
 * limit) its REST code and status; anything else INTERNAL_SERVER_ERROR with no detail.
 */
export function formatGraphQLError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const code = formatted.extensions?.code;
  if (typeof code === 'string' && REQUEST_ERRORS.has(code)) {
    const ours =
      error instanceof GraphQLError && error.originalError instanceof GraphQLError ? error.originalError.extensions.code : undefined;
    if (typeof ours === 'string') return { message: formatted.message, extensions: { code: ours } };
    if (code === 'GRAPHQL_PARSE_FAILED' && /tokens\. Parsing aborted/.test(formatted.message)) {
      return {
        message: `the query has more than ${GRAPHQL_LIMITS.maxTokens} tokens`,
        extensions: { code: 'QUERY_TOO_LARGE' },
      };
    }
    return formatted;
  }
  if (code !== undefined && code !== 'INTERNAL_SERVER_ERROR') return formatted;
  // Apollo's own refusals of a request (a bad persisted query, a GET it cannot take) have no code.
  if (error instanceof GraphQLError && error.originalError === undefined && error.path === undefined) {
    return { message: formatted.message, extensions: { code: 'BAD_REQUEST' } };
  }
  const original = unwrapResolverError(error);
  if (original instanceof HttpException || original instanceof DomainError) {
    const { status, body } = apiErrorResponse(original, logger);
    const message = Array.isArray(body.message) ? body.message.join('; ') : String(body.message);
    return { ...formatted, message, extensions: { code: body.code, statusCode: status } };
  }
  logger.error(`unexpected GraphQL error (${original instanceof Error ? original.name : typeof original}) ${JSON.stringify(formatted)}`);
  return { message: 'internal error', ...(formatted.path && { path: formatted.path }), extensions: { code: 'INTERNAL_SERVER_ERROR' } };
}
