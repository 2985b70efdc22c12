import type { BrokerClient } from '../client/broker-client.js';
import type { ConnectionStatus, Subscription } from '../client/types.js';

interface Latest {
  readonly id: string;
  readonly data: unknown;
}

const IDLE: ConnectionStatus = { state: 'closed', transport: 'fetch', attempt: 0 };

/**
 * One stream per client (so, per page) shared by every hook: it is filtered on the names the
 * mounted hooks use, keeps the latest data of each, and tells only the hooks of a name that
 * changed. A new name reopens the stream (batched per microtask, so hooks mounting in one render
 * cost one reconnection) without a `lastEventId`, which brings the latest value of every name;
 * the last unmounting hook closes it.
 */
export class SharedStream {
  private readonly latest = new Map<string, Latest>();
  private readonly listeners = new Map<string, Set<() => void>>();
  private readonly statusListeners = new Set<() => void>();
  private readonly refs = new Map<string, number>();
  private subscription: Subscription | undefined;
  private subscribedNames = new Set<string>();
  private scheduled = false;
  private currentStatus: ConnectionStatus = IDLE;

  constructor(
    private readonly client: BrokerClient,
    private readonly auth: boolean | 'auto',
  ) {}

  /** Latest data of `name` (undefined until it has one); stable between changes. */
  value(name: string): unknown {
    return this.latest.get(name)?.data;
  }

  get status(): ConnectionStatus {
    return this.currentStatus;
  }

  /** Watches `name`; returns the function that stops watching. */
  watch(name: string, listener: () => void): () => void {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(listener);
    this.refs.set(name, (this.refs.get(name) ?? 0) + 1);
    this.schedule();
    return () => {
      set.delete(listener);
      const left = (this.refs.get(name) ?? 1) - 1;
      if (left > 0) this.refs.set(name, left);
      else this.refs.delete(name);
      this.schedule();
    };
  }

  watchStatus(listener: () => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.reconcile();
    });
  }

  private reconcile(): void {
    if (this.refs.size === 0) {
      this.subscription?.close();
      this.subscription = undefined;
      this.subscribedNames = new Set();
      this.setStatus(IDLE);
      return;
    }
    const missing = [...this.refs.keys()].some((name) => !this.subscribedNames.has(name));
    if (!missing && this.subscription) return;
    // Names stay subscribed while any hook is mounted: no reconnection when one unmounts.
    const names = new Set([...this.subscribedNames, ...this.refs.keys()]);
    this.subscription?.close();
    this.subscribedNames = names;
    this.subscription = this.client.subscribe({
      events: [...names].sort(),
      auth: this.auth,
      onEvent: (event) => {
        const before = this.latest.get(event.event);
        if (before && before.id === event.id) return;
        this.latest.set(event.event, { id: event.id, data: event.data });
        for (const listener of [...(this.listeners.get(event.event) ?? [])]) listener();
      },
      onStatus: (status) => this.setStatus(status),
    });
  }

  private setStatus(status: ConnectionStatus): void {
    this.currentStatus = status;
    for (const listener of [...this.statusListeners]) listener();
  }
}
