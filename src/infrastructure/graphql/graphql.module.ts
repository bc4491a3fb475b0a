import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
import { GraphQLModule } from '@nestjs/graphql';
import type { Request } from 'express';

/**
 * GraphQL at /graphql, code first: the schema is generated from the resolver and type classes
 * at start (nothing to keep in sync by hand). Stack traces never go into error answers.
 */
export function graphQLModule() {
  return GraphQLModule.forRoot<ApolloDriverConfig>({
    driver: ApolloDriver,
    path: '/graphql',
    autoSchemaFile: true,
    sortSchema: true,
    includeStacktraceInErrorResponses: false,
    context: ({ req }: { req: Request }) => ({ req }),
  });
}
