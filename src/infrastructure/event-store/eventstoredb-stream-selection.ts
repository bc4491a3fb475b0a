import { Filter, streamNameFilter } from '@eventstore/db-client';
import { RESERVED_STREAM_PREFIX } from './append-rules';

/** The prefixes of Custodia's aggregate streams: what readAll returns and what wakes onAppended listeners. */
export const CUSTODIA_STREAM_PREFIXES: readonly string[] = ['source-', 'backup-', 'restore-', 'subject-', 'job-'];

/**
 * Which streams of the database are Custodia's event log. Either prefixes, or a regular expression
 * evaluated both by the server (.NET) for the live subscription and here (JavaScript) for readAll,
 * so it must mean the same in both. Streams starting with `$` or `custodia-` are never included.
 */
export type StreamSelection = { prefixes: readonly string[] } | { regex: string };

/**
 * Whether an event belongs to Custodia's global log: in a selected stream, and neither in the
 * store's own streams nor a system event. Built once: an empty prefix (which would select every
 * stream) is refused with a RangeError, a regex that is not one throws its SyntaxError.
 */
export function logEventPredicate(selection: StreamSelection): (stream: string, type: string) => boolean {
  const matchesSelection = selectionMatcher(selection);
  return (stream, type) => !isSystemOrReserved(stream) && !type.startsWith('$') && matchesSelection(stream);
}

/**
 * The live subscription's server-side filter. One filter per subscription: the stream filter
 * already leaves out the `$` streams, the remaining system event types are dropped by the
 * predicate above.
 */
export function serverFilter(selection: StreamSelection): Filter {
  return 'regex' in selection ? streamNameFilter({ regex: selection.regex }) : streamNameFilter({ prefixes: [...selection.prefixes] });
}

function selectionMatcher(selection: StreamSelection): (stream: string) => boolean {
  if ('regex' in selection) {
    const pattern = new RegExp(selection.regex);
    return (stream) => pattern.test(stream);
  }
  const prefixes = [...selection.prefixes];
  if (prefixes.length === 0 || prefixes.some((prefix) => prefix.length === 0)) {
    throw new RangeError('EventStoreDB event store: stream prefixes must be non-empty');
  }
  return (stream) => prefixes.some((prefix) => stream.startsWith(prefix));
}

function isSystemOrReserved(stream: string): boolean {
  return stream.startsWith('$') || stream.startsWith(RESERVED_STREAM_PREFIX);
}
