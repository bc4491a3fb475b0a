import { ApolloServer } from '@apollo/server';
import { buildSchema } from 'graphql';
import { queryTextNesting, responseSizePlugin } from '../../src/infrastructure/graphql/limits';

describe('GraphQL response size limit', () => {
  const schema = buildSchema('type Query { text(length: Int!): String! }');
  const rootValue = { text: ({ length }: { length: number }) => 'x'.repeat(length) };

  it('replaces an answer over the limit by a RESPONSE_TOO_LARGE error, and lets smaller ones through', async () => {
    const server = new ApolloServer({ schema, rootValue, plugins: [responseSizePlugin(1_000)] } as never);
    await server.start();
    try {
      const small = await server.executeOperation({ query: '{ text(length: 900) }' });
      expect(small.body).toMatchObject({ kind: 'single', singleResult: { data: { text: 'x'.repeat(900) } } });
      const large = await server.executeOperation({ query: '{ text(length: 1000) }' });
      expect(large.http.status).toBe(400);
      expect(large.body).toEqual({
        kind: 'single',
        singleResult: { errors: [{ message: expect.stringMatching(/more than the 1000/), extensions: { code: 'RESPONSE_TOO_LARGE' } }] },
      });
    } finally {
      await server.stop();
    }
  });
});

describe('GraphQL query text nesting', () => {
  it('counts brackets outside strings and comments', () => {
    expect(queryTextNesting('{ a { b(x: [1, {y: 2}]) } }', 100)).toBe(5);
    expect(queryTextNesting('{ a(s: "{{{{ \\" [[[") }', 100)).toBe(2);
    expect(queryTextNesting('# {{{{{\n{ a }', 100)).toBe(1);
    expect(queryTextNesting('{'.repeat(1_000_000), 10)).toBe(11);
  });
});
