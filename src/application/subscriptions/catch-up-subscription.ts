import { Logger } from '@nestjs/common';
import { describeForLog } from '../describe-for-log';
import { EventStore, RecordedEvent } from '../ports/event-store';
import { Backoff, BackoffSchedule } from '../retry';

export interface SubscriptionOptions {
  /** Where to resume: the last position whose effects are durable. */
  loadCheckpoint: () => Promise<number>;
  /** Handles a batch in order and makes its checkpoint durable before returning. */
  handleBatch: (events: RecordedEvent[]) => Promise<void>;
  batchSize?: number;
  /** Poll interval when no append notification arrives (another process may be appending). */
  pollIntervalMs?: number;
  /** Wait before reading again from the checkpoint after a failure; 1 s each time unless given. */
  retryDelayMs?: number;
  /** The wait after each further failure in a row, instead of a constant retryDelayMs. */
  retryBackoff?: Backoff;
}

/**
 * A catch-up subscription to the global log. It resumes from a durable checkpoint, hands every
 * event to its handler in position order, and retries a failing batch (from the checkpoint
 * again) instead of skipping it: at-least-once, never out of order, never a gap.
 */
export class CatchUpSubscription {
  private readonly logger: Logger;
  private running = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  /** An append was announced since the last read began: the next sleep must not wait for another. */
  private appended = false;
  private unlisten: (() => void) | null = null;
  private position = 0;
  private readonly waiters: { position: number; resolve: () => void }[] = [];
  private readonly retryBackoff: BackoffSchedule;

  constructor(
    readonly name: string,
    private readonly store: EventStore,
    private readonly options: SubscriptionOptions,
  ) {
    this.logger = new Logger(`Subscription:${name}`);
    this.retryBackoff = new BackoffSchedule(options.retryBackoff ?? { kind: 'constant', delayMs: options.retryDelayMs ?? 1000 });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unlisten = this.store.onAppended(() => {
      this.appended = true;
      this.wake?.();
    });
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.unlisten?.();
    this.wake?.();
    await this.loop;
  }

  /** Resolves once every event up to `position` has been handled. */
  waitFor(position: number): Promise<void> {
    if (this.position >= position) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ position, resolve }));
  }

  get handledPosition(): number {
    return this.position;
  }

  private async run(): Promise<void> {
    const batchSize = this.options.batchSize ?? 200;
    // The checkpoint is read when the subscription starts and after a failure, not on every
    // poll: while it runs, the position it handled last is the checkpoint it saved last.
    let fromCheckpoint = true;
    while (this.running) {
      try {
        if (fromCheckpoint) {
          this.position = await this.options.loadCheckpoint();
          fromCheckpoint = false;
          this.release();
        }
        for (;;) {
          if (!this.running) return;
          this.appended = false;
          const events = await this.store.readAll(this.position, batchSize);
          if (events.length === 0) break;
          await this.options.handleBatch(events);
          this.position = events[events.length - 1].position;
          this.release();
        }
        this.retryBackoff.reset();
        await this.sleep(this.options.pollIntervalMs ?? 1000);
      } catch (error) {
        fromCheckpoint = true;
        // Log the failure's kind only: messages may quote data we must not log.
        this.logger.error(`handler failed (${describeForLog(error)}); retrying from the checkpoint`);
        await this.sleep(this.retryBackoff.next());
      }
    }
  }

  private release(): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      if (this.waiters[i].position <= this.position) this.waiters.splice(i, 1)[0].resolve();
    }
  }

  private sleep(ms: number): Promise<void> {
    // A stop() that came during a read or a batch found no sleep to wake: do not start one. Nor
    // for an append announced while the loop was reading or handling: it would wait a whole poll.
    if (!this.running || this.appended) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}
