import { Backoff } from '../../application/retry';
import { CUSTODIA_STREAM_PREFIXES, StreamSelection } from './eventstoredb-stream-selection';

export interface EventStoreDbEventStoreOptions {
  /** Which streams readAll returns and onAppended watches; CUSTODIA_STREAM_PREFIXES unless given. */
  streams?: StreamSelection;
  /** Receives what an onAppended listener throws; the append that triggered it still succeeds. */
  onListenerError?: (error: unknown) => void;
  /** Receives failures in the background: the live subscription dropping, checkpoint stream housekeeping. */
  onConnectionError?: (error: unknown) => void;
  /** First delay before the live subscription is opened again after it dropped; doubles up to 30 s. */
  resubscribeDelayMs?: number;
  /** How long open() waits for the server's first answer. */
  connectTimeoutMs?: number;
}

/** The options with every default filled in: what the adapter runs on. */
export interface EventStoreDbSettings {
  streams: StreamSelection;
  /** Undefined keeps AppendListeners' own default (log to the console). */
  onListenerError: ((error: unknown) => void) | undefined;
  onConnectionError: (error: unknown) => void;
  resubscribeBackoff: Backoff;
  connectTimeoutMs: number;
}

const DEFAULT_RESUBSCRIBE_DELAY_MS = 1_000;
const MAX_RESUBSCRIBE_DELAY_MS = 30_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/**
 * Fills in the defaults. Only what is missing (undefined) is replaced; the values given are taken
 * as they are, as the adapter always did (the connection string itself is the client's to parse).
 */
export function eventStoreDbSettings(options: EventStoreDbEventStoreOptions = {}): EventStoreDbSettings {
  return {
    streams: options.streams ?? { prefixes: CUSTODIA_STREAM_PREFIXES },
    onListenerError: options.onListenerError,
    onConnectionError: options.onConnectionError ?? ((error) => console.error('event store: EventStoreDB background failure', error)),
    resubscribeBackoff: {
      kind: 'exponential',
      initialMs: options.resubscribeDelayMs ?? DEFAULT_RESUBSCRIBE_DELAY_MS,
      maxMs: MAX_RESUBSCRIBE_DELAY_MS,
    },
    connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
  };
}
