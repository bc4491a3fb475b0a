// The ESM declarations: those @nestjs/apollo's options are typed with.
import type { ApolloServerPlugin, GraphQLRequestContext } from '@apollo/server' with { 'resolution-mode': 'import' };
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { GraphQLError, Kind, OperationTypeNode, ValidationContext, ValidationRule, type ASTVisitor } from 'graphql';
import { fieldExtensionsEstimator, getComplexity, simpleEstimator } from 'graphql-query-complexity';

/**
 * What one GraphQL request may ask for. Every limit is checked before anything runs (validation
 * rules and the operation's cost), except the size of the answer, which is checked before it is
 * sent. A request over a limit is answered 400 with the limit's code in `errors[].extensions.code`.
 */
export const GRAPHQL_LIMITS = {
  /** Nesting of selections: the deepest real query (subjectData { erasure { … } }) has 3. */
  maxDepth: 8,
  /** Aliased fields per operation (__typename not counted). */
  maxAliases: 20,
  /**
   * Brackets ({ ( [) nested in the query text, checked before it is parsed: graphql-js's parser
   * recurses per level, and 5,000 levels within the token limit overflowed its stack.
   */
  maxTextNesting: 32,
  /** Tokens of the query text, so that parsing itself is bounded (graphql-js stops at the limit). */
  maxTokens: 10_000,
  /** The operation's cost, from the costs declared on the fields (COST below). */
  maxCost: 20_000,
  /** Bytes of the JSON answer. */
  maxResponseBytes: 4 * 1024 * 1024,
} as const;

/**
 * Field costs, read by graphql-query-complexity from the fields' extensions (set with
 * `complexity` on @Query). A field costs 1 unless said otherwise; a page costs what its items do
 * times the page size; the audit chain's verification recomputes every hash of the trail.
 */
export const COST = {
  /** A list with a `limit`: its items cost as many times as there can be items. */
  page:
    (defaultLimit: number, maxLimit: number) =>
    ({ args, childComplexity }: { args: Record<string, unknown>; childComplexity: number }) =>
      1 + childComplexity * Math.min(Math.max(typeof args.limit === 'number' ? args.limit : defaultLimit, 1), maxLimit),
  /** A list without a limit (sources): counted as a hundred items. */
  unbounded: ({ childComplexity }: { childComplexity: number }) => 1 + childComplexity * 100,
  /** Verifying the audit chain reads and hashes the whole trail: at most 4 per request. */
  auditVerification: 5_000,
} as const;

export const GRAPHQL_ERROR = {
  QUERY_TOO_DEEP: 'QUERY_TOO_DEEP',
  TOO_MANY_ALIASES: 'TOO_MANY_ALIASES',
  QUERY_TOO_LARGE: 'QUERY_TOO_LARGE',
  QUERY_TOO_COSTLY: 'QUERY_TOO_COSTLY',
  RESPONSE_TOO_LARGE: 'RESPONSE_TOO_LARGE',
  ONE_COMMAND_PER_REQUEST: 'ONE_COMMAND_PER_REQUEST',
} as const;

/**
 * How deep the query text nests brackets, counted in one loop (no recursion) outside strings and
 * comments; stops counting once over `max`.
 */
export function queryTextNesting(query: string, max: number): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < query.length; i++) {
    const char = query[i];
    if (char === '"') {
      // A string (a block string is three of them, and is skipped the same way).
      for (i++; i < query.length && query[i] !== '"'; i++) if (query[i] === '\\') i++;
    } else if (char === '#') {
      while (i < query.length && query[i] !== '\n' && query[i] !== '\r') i++;
    } else if (char === '{' || char === '(' || char === '[') {
      deepest = Math.max(deepest, ++depth);
      if (deepest > max) return deepest;
    } else if (char === '}' || char === ')' || char === ']') {
      depth--;
    }
  }
  return deepest;
}

/** A client error with our code; Apollo keeps it as the validation error's originalError. */
export function limitError(message: string, code: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code, http: { status: 400 } } });
}

/** An armor rule's rejection, reported with our code instead of thrown as a "Syntax Error". */
function reportAs(code: string) {
  return (context: ValidationContext | null, error: GraphQLError) => {
    context?.reportError(limitError(error.message.replace(/^Syntax Error: /, ''), code));
  };
}

/**
 * A mutation field is a command (it records an event and may start a worker's job): a request
 * holds at most one, so one Idempotency-Key stands for exactly one command, and a burst of
 * commands cannot hide in one request from the rate limit.
 */
export const oneCommandPerRequest: ValidationRule = (context): ASTVisitor => ({
  OperationDefinition(node) {
    if (node.operation !== OperationTypeNode.MUTATION) return;
    let commands = 0;
    const visited = new Set<string>();
    const count = (selections: readonly import('graphql').SelectionNode[]): void => {
      for (const selection of selections) {
        if (selection.kind === Kind.FIELD) {
          if (selection.name.value !== '__typename') commands++;
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          count(selection.selectionSet.selections);
        } else if (!visited.has(selection.name.value)) {
          visited.add(selection.name.value);
          const fragment = context.getFragment(selection.name.value);
          if (fragment) count(fragment.selectionSet.selections);
        }
      }
    };
    count(node.selectionSet.selections);
    if (commands > 1) {
      context.reportError(
        limitError(`a request may carry one mutation (command), this one has ${commands}: send them one by one`, 'ONE_COMMAND_PER_REQUEST'),
      );
    }
  },
});

export const GRAPHQL_VALIDATION_RULES: ValidationRule[] = [
  maxDepthRule({ n: GRAPHQL_LIMITS.maxDepth, propagateOnRejection: false, onReject: [reportAs(GRAPHQL_ERROR.QUERY_TOO_DEEP)] }),
  maxAliasesRule({ n: GRAPHQL_LIMITS.maxAliases, propagateOnRejection: false, onReject: [reportAs(GRAPHQL_ERROR.TOO_MANY_ALIASES)] }),
  oneCommandPerRequest,
];

/**
 * The operation's cost, once it is valid and its variables are known, before it runs (the way
 * Nest's documentation wires graphql-query-complexity: its validation rule cannot see variables).
 */
export function costLimitPlugin(maxCost: number = GRAPHQL_LIMITS.maxCost): ApolloServerPlugin {
  return {
    requestDidStart: () =>
      Promise.resolve({
        didResolveOperation: ({ request, document, schema }: GraphQLRequestContext<object>) => {
          let cost: number;
          try {
            cost = getComplexity({
              schema,
              query: document as NonNullable<typeof document>,
              operationName: request.operationName,
              variables: request.variables,
              estimators: [fieldExtensionsEstimator(), simpleEstimator({ defaultComplexity: 1 })],
            });
          } catch (error) {
            // getComplexity coerces the variables again; a bad one is the caller's error.
            throw limitError(error instanceof Error ? error.message : 'the variables do not fit the operation', 'BAD_USER_INPUT');
          }
          if (cost > maxCost) {
            throw limitError(
              `this query costs ${cost}, more than the ${maxCost} one request may: ask for fewer fields or items`,
              'QUERY_TOO_COSTLY',
            );
          }
          return Promise.resolve();
        },
      }),
  };
}

/**
 * Bounds the answer: one over `maxBytes` is replaced by a RESPONSE_TOO_LARGE error (its data is
 * dropped, never cut in the middle). The cost and alias limits keep real answers far below it.
 */
export function responseSizePlugin(maxBytes: number = GRAPHQL_LIMITS.maxResponseBytes): ApolloServerPlugin {
  return {
    requestDidStart: () =>
      Promise.resolve({
        willSendResponse: ({ response }: GraphQLRequestContext<object>) => {
          const body = response.body;
          if (body?.kind !== 'single') return Promise.resolve();
          const size = Buffer.byteLength(JSON.stringify(body.singleResult));
          if (size > maxBytes) {
            body.singleResult = {
              errors: [
                {
                  message: `the answer would be ${size} bytes, more than the ${maxBytes} one request may get: ask for fewer fields or items`,
                  extensions: { code: GRAPHQL_ERROR.RESPONSE_TOO_LARGE },
                },
              ],
            };
            response.http.status = 400;
          }
          return Promise.resolve();
        },
      }),
  };
}

/**
 * A mutation refused by the rate limit (CommandThrottlerGuard) is answered 429, as on REST, with
 * the guard's Retry-After header: the request carries that one mutation, so its `data` is null
 * and is left out (Nest's Apollo driver resets the status to 200 for an answer with `data`).
 */
export function rateLimitStatusPlugin(): ApolloServerPlugin {
  return {
    requestDidStart: () =>
      Promise.resolve({
        willSendResponse: ({ response }: GraphQLRequestContext<object>) => {
          const body = response.body;
          if (body?.kind !== 'single') return Promise.resolve();
          const errors = body.singleResult.errors ?? [];
          if (errors.some((error) => error.extensions?.code === 'RATE_LIMITED') && !body.singleResult.data) {
            body.singleResult = { errors };
            response.http.status = 429;
          }
          return Promise.resolve();
        },
      }),
  };
}
