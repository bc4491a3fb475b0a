import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
import { GraphQLModule } from '@nestjs/graphql';
import type { Request } from 'express';

/**
 * GraphQL at /graphql, code first: the schema is generated from the resolver and type classes
 * at start (nothing to keep in sync by hand). Stack traces never go into error answers.
 * `open`: no API tokens (a loopback-only installation), where introspection helps; with tokens it
 * is off, since schema queries do not pass through the access guard.
 */
export function graphQLModule(open: boolean) {
  return GraphQLModule.forRoot<ApolloDriverConfig>({
    introspection: open,
    driver: ApolloDriver,
    path: '/graphql',
    autoSchemaFile: true,
    sortSchema: true,
    includeStacktraceInErrorResponses: false,
    context: ({ req }: { req: Request }) => ({ req }),
  });
}
