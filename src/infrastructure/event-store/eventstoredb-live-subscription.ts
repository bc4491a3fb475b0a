import { AllStreamResolvedEvent, AllStreamSubscription, END, EventStoreDBClient } from '@eventstore/db-client';
import { Backoff, BackoffSchedule } from '../../application/retry';
import { AppendListeners } from './append-listeners';
import { serverFilter, StreamSelection } from './eventstoredb-stream-selection';

export interface LiveSubscriptionSettings {
  /** The streams the server sends events of (see serverFilter). */
  streams: StreamSelection;
  /** Which delivered events wake the listeners (the filter cannot drop every system event). */
  isLogEvent: (stream: string, type: string) => boolean;
  resubscribeBackoff: Backoff;
  /** Receives why the subscription dropped; it is opened again after a delay. */
  onConnectionError: (error: unknown) => void;
}

/**
 * The subscription to $all behind onAppended: it is what wakes this process's listeners for
 * appends made by any process. Opened once there is a listener, from the end of $all (listeners
 * read from their own checkpoints, so nothing before matters); opened again with a growing delay
 * when it drops.
 */
export class LiveSubscription {
  private subscription: AllStreamSubscription | null = null;
  private resubscribeTimer: NodeJS.Timeout | null = null;
  private wakeScheduled = false;
  private stopped = false;
  private readonly backoff: BackoffSchedule;

  constructor(
    private readonly client: EventStoreDBClient,
    private readonly listeners: AppendListeners,
    private readonly settings: LiveSubscriptionSettings,
  ) {
    this.backoff = new BackoffSchedule(settings.resubscribeBackoff);
  }

  /** Opens the subscription, unless it is open, about to be reopened, stopped, or nobody listens. */
  start(): void {
    if (this.stopped || this.subscription || this.resubscribeTimer || this.listeners.size === 0) return;
    const subscription = this.client.subscribeToAll({
      fromPosition: END,
      resolveLinkTos: false,
      filter: serverFilter(this.settings.streams),
    });
    this.subscription = subscription;
    subscription.on('confirmation', () => this.backoff.reset());
    subscription.on('data', (resolved: AllStreamResolvedEvent) => {
      const event = resolved.event;
      if (event && this.settings.isLogEvent(event.streamId, event.type)) this.scheduleWake();
    });
    const dropped = (error?: Error) => {
      if (this.subscription !== subscription) return;
      this.subscription = null;
      if (this.stopped) return;
      if (error) this.settings.onConnectionError(error);
      const delay = this.backoff.next();
      this.resubscribeTimer = setTimeout(() => {
        this.resubscribeTimer = null;
        this.start();
        // Appends made while it was down woke nobody: wake the listeners once, they read from their checkpoints.
        this.scheduleWake();
      }, delay);
      this.resubscribeTimer.unref();
    };
    subscription.on('error', dropped);
    subscription.on('close', () => dropped());
  }

  /** Ends the subscription for good; the client's connection is its owner's to close. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.resubscribeTimer) clearTimeout(this.resubscribeTimer);
    this.resubscribeTimer = null;
    const subscription = this.subscription;
    this.subscription = null;
    try {
      await subscription?.unsubscribe();
    } catch {
      // The subscription never connected: there is nothing to cancel.
    }
  }

  /** Wakes the listeners once for a burst of subscription events (one per event of a batch append). */
  private scheduleWake(): void {
    if (this.wakeScheduled) return;
    this.wakeScheduled = true;
    setImmediate(() => {
      this.wakeScheduled = false;
      if (!this.stopped) this.listeners.notify();
    });
  }
}
