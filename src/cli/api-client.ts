import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { retry, RetryPolicy, Sleep, sleep } from '../application/retry';
import { EngineError } from '../engine';

/** Where the service is and who is calling it (`custodia api`). */
export interface ApiConnection {
  url: string;
  /** Bearer token (CUSTODIA_TOKEN or --token-file); null when the service runs without tokens. */
  token: string | null;
  /** X-Actor from CUSTODIA_ACTOR, for a service without tokens (ignored when tokens are in use). */
  actor: string | null;
}

/** A failure of a call to the service, with the service's own code (bad arguments are EngineErrors). */
export class ApiCallError extends Error {
  readonly exitCode = 1;

  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiCallError';
  }
}

/** Statuses a backup, restore or erasure does not leave. */
const SETTLED = ['completed', 'failed', 'cancelled'];
/** A call that got no answer is sent twice more, 300 ms and then 600 ms later. */
const UNANSWERED_CALL_RETRY: RetryPolicy = { maxAttempts: 3, backoff: { kind: 'linear', stepMs: 300 } };

/**
 * A small client of the REST API. Every POST and DELETE carries an Idempotency-Key, and a call
 * that never got an answer (network error) is sent again with the same key, so a retry cannot
 * request a second backup. Tokens are read from the environment or a file, never from an
 * argument: arguments are visible in the process list.
 */
export class ApiClient {
  constructor(
    private readonly connection: ApiConnection,
    /** How the client waits between attempts (tests pass one that does not). */
    private readonly wait: Sleep = sleep,
  ) {}

  static connect(flags: { url?: string; tokenFile?: string }, env: NodeJS.ProcessEnv = process.env): ApiClient {
    const url = (flags.url ?? env.CUSTODIA_URL ?? 'http://127.0.0.1:3000').replace(/\/+$/, '');
    if (!/^https?:\/\/[^/]+/.test(url))
      throw new EngineError('INVALID_ARGUMENT', `the service URL must be http(s)://host[:port], got "${url}"`);
    let token = env.CUSTODIA_TOKEN || null;
    if (flags.tokenFile) {
      try {
        token = readFileSync(flags.tokenFile, 'utf8').trim();
      } catch (error) {
        throw new EngineError(
          'INVALID_ARGUMENT',
          `cannot read the token file ${flags.tokenFile} (${(error as NodeJS.ErrnoException).code})`,
        );
      }
    }
    return new ApiClient({ url, token, actor: env.CUSTODIA_ACTOR || null });
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>('POST', path, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.call<T>('DELETE', path);
  }

  /** Polls `path` until its status settles; `timeoutMs` bounds the wait. */
  async waitUntilSettled<T extends { status: string }>(path: string, timeoutMs: number, intervalMs = 500): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // Read models follow the event log: just after a 202 the new id can still be unknown.
      const current = await this.get<T>(path).catch((error: unknown) => {
        if (error instanceof ApiCallError && error.code === 'NOT_FOUND' && Date.now() < deadline) return null;
        throw error;
      });
      if (current && SETTLED.includes(current.status)) return current;
      if (Date.now() >= deadline) {
        throw new ApiCallError('WAIT_TIMEOUT', `${path} is still ${current?.status ?? 'unknown'} after ${Math.round(timeoutMs / 1000)} s`);
      }
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.connection.token) headers.authorization = `Bearer ${this.connection.token}`;
    if (this.connection.actor) headers['x-actor'] = this.connection.actor;
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (method !== 'GET') headers['idempotency-key'] = randomUUID();
    const response = await this.send(`${this.connection.url}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const parsed = parseJson(text);
    if (!response.ok) {
      const error = (parsed ?? {}) as { code?: unknown; message?: unknown };
      const code = typeof error.code === 'string' ? error.code : `HTTP_${response.status}`;
      const message = Array.isArray(error.message) ? error.message.join('; ') : String(error.message ?? response.statusText);
      throw new ApiCallError(code, message);
    }
    return parsed as T;
  }

  private async send(url: string, init: RequestInit): Promise<Response> {
    try {
      // Only a call that never got an answer throws here; an error status is an answer.
      return await retry(UNANSWERED_CALL_RETRY, () => fetch(url, { ...init, signal: AbortSignal.timeout(60_000) }), { sleep: this.wait });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      throw new ApiCallError(
        'SERVICE_UNREACHABLE',
        `no answer from ${this.connection.url} (${cause}); is \`custodia serve\` running there?`,
      );
    }
  }
}

function parseJson(text: string): unknown {
  if (text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
