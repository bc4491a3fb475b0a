import { AppendResult } from '../../application/ports/event-store';

export interface AppendOutcome {
  result: AppendResult;
  /** False for an idempotent repeat, which commits nothing and so must not wake subscribers. */
  wrote: boolean;
}

export const DEFAULT_LISTENER_ERROR = (error: unknown): void => console.error('event store: an onAppended listener failed', error);

/**
 * The onAppended listeners of one event store. A listener's failure never reaches the append
 * that woke it: it goes to `onError`.
 */
export class AppendListeners {
  private readonly listeners = new Set<() => void>();

  constructor(private readonly onError: (error: unknown) => void = DEFAULT_LISTENER_ERROR) {}

  get size(): number {
    return this.listeners.size;
  }

  add(listener: () => void): () => void {
    // Wrapped so the same function registered twice is two registrations, each removed by its own unsubscribe.
    const registration = () => listener();
    this.listeners.add(registration);
    return () => this.listeners.delete(registration);
  }

  notify(): void {
    for (const listener of [...this.listeners]) {
      try {
        // Typed as returning void, but an async function fits that type; its rejection would
        // otherwise be unhandled and, on Node's default settings, end the process.
        const returned: unknown = listener();
        if (returned instanceof Promise) returned.catch(this.onError);
      } catch (error) {
        this.onError(error);
      }
    }
  }

  clear(): void {
    this.listeners.clear();
  }
}
