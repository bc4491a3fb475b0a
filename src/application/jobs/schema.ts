import { z } from 'zod';

/**
 * The schema vocabulary of job payloads, results and bus messages (zod). Each schema carries the
 * sentence a dead letter gives when a value breaks it: a message beginning with "must" is said
 * of the field's path (`payload.full must be a boolean`), any other is said as it is. The
 * sentences never echo the value, so a reason cannot carry personal data from the message.
 */
const said = (message: string) => ({ errorMap: () => ({ message }) });

export const nonEmptyString = () => z.string(said('must be a non-empty string')).min(1, 'must be a non-empty string');
export const boolean = () => z.boolean(said('must be a boolean'));
export const stringArray = () => z.array(z.string(said('must be an array of strings')), said('must be an array of strings'));
export const count = () =>
  z.number(said('must be a non-negative integer')).int('must be a non-negative integer').nonnegative('must be a non-negative integer');
/** Attempts start at 1: the deciders treat attempt 0 as "never started". */
export const attempt = () =>
  z.number(said('must be a positive integer')).int('must be a positive integer').min(1, 'must be a positive integer');
export const timestamp = () => nonEmptyString().refine((value) => !Number.isNaN(Date.parse(value)), 'must be a timestamp');
export const record = (message = 'must be an object') => z.record(z.unknown(), said(message));
export const object = <T extends z.ZodRawShape>(shape: T, message = 'must be an object') => z.object(shape, said(message));

/** A data subject's pseudonym (the engine's PSEUDONYM_PATTERN: what a key vault entry is named by). */
export const PSEUDONYM = /^[A-Za-z0-9_-]{1,128}$/;
export const pseudonym = () => z.string(said('must be a pseudonym')).regex(PSEUDONYM, 'must be a pseudonym');

/** What makes `value` break `schema` (the first problem, as a sentence), or undefined when it does not. */
export function problemOf(schema: z.ZodTypeAny, value: unknown, prefix = ''): string | undefined {
  const parsed = schema.safeParse(value);
  if (parsed.success) return undefined;
  const [issue] = parsed.error.issues;
  // An element's problem is its array's ("payload.include must be an array of strings").
  const path = [prefix, ...issue.path.filter((part) => typeof part === 'string')].filter((part) => part !== '').join('.');
  return issue.message.startsWith('must') && path !== '' ? `${path} ${issue.message}` : issue.message;
}
