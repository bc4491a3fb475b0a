import { GraphQLError, Kind, type ValueNode } from 'graphql';
import { graphQLEnum, graphQLEnumName } from '../../src/infrastructure/graphql/enums';
import { BytesScalar, DateTimeScalar, isoInstant } from '../../src/infrastructure/graphql/scalars';

const stringNode = (value: string): ValueNode => ({ kind: Kind.STRING, value });
const intNode = (value: string): ValueNode => ({ kind: Kind.INT, value });

/** The GraphQLError `run` throws (the scalars refuse input with nothing else). */
function refusal(run: () => unknown): GraphQLError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(GraphQLError);
    return error as GraphQLError;
  }
  throw new Error('expected a GraphQLError');
}

describe('DateTime scalar', () => {
  it('serialises stored ISO-8601 times as they are, and Dates as UTC ISO text', () => {
    expect(DateTimeScalar.serialize('2026-12-04T18:00:00.123Z')).toBe('2026-12-04T18:00:00.123Z');
    expect(DateTimeScalar.serialize(new Date(Date.UTC(2026, 11, 4, 18)))).toBe('2026-12-04T18:00:00.000Z');
  });

  it('refuses to serialise what is not a time', () => {
    for (const value of ['yesterday', '', 1_733_335_200_000, new Date(Number.NaN), null, {}]) {
      expect(refusal(() => DateTimeScalar.serialize(value)).message).toMatch(/^DateTime cannot represent/);
    }
  });

  it('reads ISO-8601 date-times with an offset in, as UTC ISO text', () => {
    expect(DateTimeScalar.parseValue('2026-12-04T18:00:00Z')).toBe('2026-12-04T18:00:00.000Z');
    expect(DateTimeScalar.parseValue('2026-12-04T20:00:00.5+02:00')).toBe('2026-12-04T18:00:00.500Z');
    expect(DateTimeScalar.parseValue('2026-12-04T18:00Z')).toBe('2026-12-04T18:00:00.000Z');
    expect(DateTimeScalar.parseLiteral(stringNode('2026-12-04T13:00:00-05:00'))).toBe('2026-12-04T18:00:00.000Z');
  });

  it('refuses unparsable input with a GraphQLError that says what is expected', () => {
    const bad: unknown[] = [
      'yesterday',
      '2026-12-04', // no time: which day it is depends on the zone
      '2026-12-04T18:00:00', // no offset: local to whom?
      '2026-02-30T00:00:00Z', // a day that does not exist (Date would make it 2 March)
      '2026-13-01T00:00:00Z',
      '2026-12-04T24:00:00Z',
      '2026-12-04T18:60:00Z',
      '2026-12-04T18:00:00+25:00',
      1_733_335_200_000,
      null,
      { at: '2026-12-04T18:00:00Z' },
    ];
    for (const value of bad) {
      expect(refusal(() => DateTimeScalar.parseValue(value)).message).toMatch(/^DateTime must be an ISO-8601 date-time with an offset/);
    }
    const literal = refusal(() => DateTimeScalar.parseLiteral(intNode('1733335200000')));
    expect(literal.message).toMatch(/^DateTime must be an ISO-8601 date-time/);
    expect(refusal(() => DateTimeScalar.parseLiteral(stringNode('soon'))).message).toContain('"soon"');
  });

  it('names the instant of a valid date-time and nothing else', () => {
    expect(isoInstant('2024-02-29T00:00:00Z')?.toISOString()).toBe('2024-02-29T00:00:00.000Z');
    expect(isoInstant('2025-02-29T00:00:00Z')).toBeNull();
  });
});

describe('Bytes scalar', () => {
  const beyondDoubles = 2n ** 53n + 1n; // 9007199254740993: a double cannot hold it

  it('serialises counts as decimal strings, exactly beyond 2^53', () => {
    expect(BytesScalar.serialize(0)).toBe('0');
    expect(BytesScalar.serialize(23)).toBe('23');
    expect(BytesScalar.serialize(Number.MAX_SAFE_INTEGER)).toBe('9007199254740991');
    expect(BytesScalar.serialize(beyondDoubles)).toBe('9007199254740993');
    expect(BytesScalar.serialize('18446744073709551615')).toBe('18446744073709551615');
  });

  it('refuses to serialise what is not a non-negative integer count', () => {
    for (const value of [-1, 1.5, Number.NaN, Infinity, 2 ** 53, -1n, '-1', '1.5', '0x10', '', '007', null, {}]) {
      expect(refusal(() => BytesScalar.serialize(value)).message).toMatch(/^Bytes cannot represent/);
    }
  });

  it('accepts a decimal string or a non-negative safe integer, read as an exact bigint', () => {
    expect(BytesScalar.parseValue('9007199254740993')).toBe(beyondDoubles);
    expect(BytesScalar.parseValue(1024)).toBe(1024n);
    expect(BytesScalar.parseValue('0')).toBe(0n);
    expect(BytesScalar.parseLiteral(stringNode('9007199254740993'))).toBe(beyondDoubles);
    expect(BytesScalar.parseLiteral(intNode('1024'))).toBe(1024n);
  });

  it('refuses anything else with a GraphQLError that says what is expected', () => {
    for (const value of [-1, 1.5, 2 ** 53, Number.NaN, '-1', '1e3', ' 1', 'many', true, null, [1]]) {
      expect(refusal(() => BytesScalar.parseValue(value)).message).toMatch(/^Bytes must be a non-negative integer/);
    }
    // An integer literal too large for a double would arrive rounded: it must be sent as a string.
    expect(refusal(() => BytesScalar.parseLiteral(intNode('9007199254740993'))).message).toContain('send it as a string');
    expect(refusal(() => BytesScalar.parseLiteral({ kind: Kind.FLOAT, value: '1.5' })).message).toMatch(/^Bytes must be/);
  });
});

describe('GraphQL enums of domain value sets', () => {
  it('keeps valid names and the domain values behind them', () => {
    expect(graphQLEnum(['full', 'incremental'] as const)).toEqual({ full: 'full', incremental: 'incremental' });
  });

  it('names values that are not GraphQL names with underscores, keeping the value', () => {
    expect(graphQLEnum(['erasure-requested', 'subject-key'] as const)).toEqual({
      erasure_requested: 'erasure-requested',
      subject_key: 'subject-key',
    });
  });

  it('refuses a value with no valid name, and two values with one name', () => {
    expect(() => graphQLEnumName('1st')).toThrow(/no GraphQL enum name/);
    expect(() => graphQLEnumName('null')).toThrow(/no GraphQL enum name/);
    expect(() => graphQLEnum(['a-b', 'a_b'])).toThrow(/same GraphQL enum name a_b/);
  });
});
