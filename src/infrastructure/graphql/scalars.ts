import { GraphQLError, GraphQLScalarType, Kind, type ValueNode } from 'graphql';

/**
 * A date and time with its offset (Z or ±hh:mm), seconds and fractions optional, as ISO-8601
 * writes it and the read models store it (`2026-12-04T18:00:00.000Z`).
 */
const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2}))$/i;

/** The instant `text` names, or null when it is not an ISO-8601 date-time or names no real day and time. */
export function isoInstant(text: string): Date | null {
  const match = ISO_DATE_TIME.exec(text);
  if (!match) return null;
  const [y, mo, d, h, mi, s, oh, om] = match.slice(1).map((part) => Number(part ?? 0));
  // Date accepts 2026-02-31 as 3 March; a day that does not exist is refused here instead.
  const calendar = new Date(Date.UTC(y, mo - 1, d));
  if (calendar.getUTCFullYear() !== y || calendar.getUTCMonth() !== mo - 1 || calendar.getUTCDate() !== d) return null;
  if (h > 23 || mi > 59 || s > 59 || oh > 23 || om > 59) return null;
  const time = Date.parse(text);
  return Number.isNaN(time) ? null : new Date(time);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  return typeof value === 'object' && value !== null ? 'an object' : String(value);
}

function parseDateTime(value: unknown, node?: ValueNode): string {
  const instant = typeof value === 'string' ? isoInstant(value) : null;
  if (instant === null) {
    throw new GraphQLError(`DateTime must be an ISO-8601 date-time with an offset, such as 2026-12-04T18:00:00Z; got ${describe(value)}`, {
      nodes: node,
    });
  }
  return instant.toISOString();
}

/**
 * DateTime: an ISO-8601 string in and out. Times leave as the read models hold them (UTC, as
 * Date#toISOString writes them); a time sent in is checked and converted to UTC, the form stored
 * times are compared in. Anything that is not a date-time with an offset is refused.
 */
export const DateTimeScalar = new GraphQLScalarType<string, string>({
  name: 'DateTime',
  description: 'an ISO-8601 date-time with an offset, e.g. 2026-12-04T18:00:00.000Z (answers are in UTC)',
  serialize(value) {
    if (value instanceof Date && !Number.isNaN(value.getTime())) return value.toISOString();
    if (typeof value === 'string' && isoInstant(value) !== null) return value;
    throw new GraphQLError(`DateTime cannot represent ${describe(value)}`);
  },
  parseValue: (value) => parseDateTime(value),
  parseLiteral(node) {
    return parseDateTime(node.kind === Kind.STRING ? node.value : undefined, node);
  },
});

const DECIMAL = /^(?:0|[1-9]\d*)$/;

/** A byte count as an exact non-negative integer, or null when `value` is not one. */
export function byteCount(value: unknown): bigint | null {
  if (typeof value === 'bigint') return value >= 0n ? value : null;
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? BigInt(value) : null;
  if (typeof value === 'string') return DECIMAL.test(value) ? BigInt(value) : null;
  return null;
}

function parseBytes(value: unknown, node?: ValueNode): bigint {
  const count = byteCount(value);
  if (count === null) {
    throw new GraphQLError(
      `Bytes must be a non-negative integer: a decimal string such as "1024", or a number up to 2^53 - 1; got ${describe(value)}`,
      { nodes: node },
    );
  }
  return count;
}

/**
 * Bytes: a count of bytes, serialised as a decimal string ("1099511627776"), so that a count
 * above 2^53 reaches a JavaScript client exactly (JSON numbers are doubles; GraphQL's Int stops
 * at 2^31). Accepted in: a decimal string, or a non-negative safe integer; read as a bigint.
 */
export const BytesScalar = new GraphQLScalarType<bigint, string>({
  name: 'Bytes',
  description: 'a count of bytes as a decimal string, e.g. "1024" (exact beyond 2^53)',
  serialize(value) {
    const count = byteCount(value);
    if (count === null) throw new GraphQLError(`Bytes cannot represent ${describe(value)}`);
    return count.toString();
  },
  parseValue: (value) => parseBytes(value),
  parseLiteral(node) {
    if (node.kind === Kind.STRING) return parseBytes(node.value, node);
    // An integer literal must be safe, as a number sent in variables must: larger counts are strings.
    if (node.kind === Kind.INT) {
      const count = Number(node.value);
      return parseBytes(Number.isSafeInteger(count) ? count : `${node.value} (beyond 2^53 - 1: send it as a string)`, node);
    }
    return parseBytes(undefined, node);
  },
});
