import { reconnectDelay } from './backoff.js';
import { BrokerError, errorFromResponse } from './errors.js';
import { type SseMessage, SseParser } from './sse-parser.js';
import type {
  ConnectionStatus,
  EventSourceConstructor,
  StreamEvent,
  SubscribeOptions,
  Subscription,
} from './types.js';

/** What a stream needs from its client. */
export interface StreamContext {
  /** Broker's base URL, ending with `/`. */
  readonly baseUrl: URL;
  readonly fetch: typeof fetch;
  readonly EventSource: EventSourceConstructor | undefined;
  /** Whether the client is logged in (for `auth: 'auto'`). */
  hasToken(): boolean;
  /** The token to send (refreshed first when due); rejects when the session is over. */
  token(): Promise<string | undefined>;
  /** A token other than `refused` (refreshing if need be); rejects when there is none. */
  renew(refused: string | undefined): Promise<string>;
}

/** Why Broker ended a token-bound stream, from its last comment (`: token expired: …`). */
type TokenEnd = 'expired' | 'revoked';

function tokenEnd(comment: string): TokenEnd | undefined {
  const text = comment.trimStart();
  if (text.startsWith('token expired')) return 'expired';
  if (text.startsWith('token revoked')) return 'revoked';
  return undefined;
}

/** A `*` or `>` segment: a pattern, which only the fetch transport can follow. */
function isPattern(name: string): boolean {
  return name.split('.').some((segment) => segment === '*' || segment === '>');
}

type Transport = ConnectionStatus['transport'];

/** Statuses that retrying cannot fix: the subscription closes with the error. */
function isFatal(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 425 && status !== 429;
}

function networkError(cause: unknown): BrokerError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new BrokerError(`network error: ${detail}`, { status: 0, code: 'network', cause });
}

/**
 * One subscription to `GET /events`, over the native EventSource or a fetch-based reader, that
 * survives connection losses: it reconnects with exponential backoff and jitter and resumes
 * after the last id it received (`Last-Event-ID` header, or `?lastEventId=` for a new
 * EventSource), which Broker answers with exactly the events released since, in order. A
 * stream sent with a token (fetch transport) that Broker ends because the token expired or was
 * revoked, or refuses with 401, reconnects at once with another token (refreshed if need be).
 */
export class EventStream<T = unknown> implements Subscription {
  private readonly names: readonly string[] | undefined;
  private readonly hasPattern: boolean;
  private readonly maxDelay: number;
  private readonly idleTimeout: number;
  private baseDelay: number;
  private lastId: string | undefined;
  private useToken: boolean;
  /** A token just had in exchange for a refused one: if it is refused too, no token will do. */
  private renewedToken: string | undefined;
  private attempt = 0;
  private lostOnce = false;
  private closed = false;
  /** Bumped whenever the current connection is abandoned: late callbacks of old ones are ignored. */
  private generation = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopCurrent: (() => void) | undefined;
  private current: ConnectionStatus;
  private readonly onOnline = (): void => {
    if (this.timer !== undefined) this.reconnect();
  };

  constructor(
    private readonly ctx: StreamContext,
    private readonly options: SubscribeOptions<T>,
  ) {
    if (typeof options.onEvent !== 'function') throw new TypeError('subscribe: onEvent must be a function');
    if (options.events !== undefined) {
      if (options.events.length === 0) throw new TypeError('subscribe: events must name at least one event (omit it for all)');
      for (const name of options.events) {
        if (typeof name !== 'string' || name === '') throw new TypeError('subscribe: event names must be non-empty strings');
      }
      this.names = [...new Set(options.events)];
    }
    this.hasPattern = this.names?.some(isPattern) ?? false;
    if (options.transport === 'eventsource') {
      if (!ctx.EventSource) throw new TypeError('subscribe: no EventSource in this environment');
      if (!this.names) throw new TypeError('subscribe: the EventSource transport needs the event names (events)');
      if (this.hasPattern) throw new TypeError('subscribe: the EventSource transport cannot follow patterns (orders.*)');
      if (options.auth === true) throw new TypeError('subscribe: the EventSource transport cannot send the token');
    }
    this.baseDelay = options.minDelayMs ?? 1000;
    this.maxDelay = options.maxDelayMs ?? 30_000;
    this.idleTimeout = options.idleTimeoutMs ?? 45_000;
    this.lastId = options.lastEventId === undefined ? undefined : String(options.lastEventId);
    this.useToken = options.auth === true;
    this.current = { state: 'connecting', transport: this.transport(), attempt: 0 };
    const target = globalThis as { addEventListener?: (type: string, listener: () => void) => void };
    if (typeof target.addEventListener === 'function') target.addEventListener('online', this.onOnline);
    // Connect on the next microtask: callbacks may use the handle subscribe() is about to return.
    queueMicrotask(() => this.connect());
  }

  get status(): ConnectionStatus {
    return this.current;
  }

  get lastEventId(): string | undefined {
    return this.lastId;
  }

  close(): void {
    if (this.closed) return;
    this.abandon();
    this.setStatus({ state: 'closed', transport: this.current.transport, attempt: this.attempt });
    this.finish();
  }

  reconnect(): void {
    if (this.closed) return;
    this.abandon();
    this.connect();
  }

  private transport(): Transport {
    const mode = this.options.transport ?? 'auto';
    if (mode === 'fetch' || this.useToken) return 'fetch';
    if (mode === 'eventsource') return 'eventsource';
    return this.ctx.EventSource && this.names && !this.hasPattern ? 'eventsource' : 'fetch';
  }

  private abandon(): void {
    this.generation += 1;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const stop = this.stopCurrent;
    this.stopCurrent = undefined;
    stop?.();
  }

  private connect(): void {
    if (this.closed) return;
    this.abandon();
    const generation = this.generation;
    const transport = this.transport();
    this.setStatus({ state: this.lostOnce ? 'reconnecting' : 'connecting', transport, attempt: this.attempt });
    if (transport === 'fetch') this.connectFetch(generation);
    else this.connectEventSource(generation);
  }

  private url(withLastId: boolean): string {
    const url = new URL('events', this.ctx.baseUrl);
    for (const name of this.names ?? []) url.searchParams.append('event', name);
    if (withLastId && this.lastId !== undefined) url.searchParams.set('lastEventId', this.lastId);
    return url.toString();
  }

  private connectFetch(generation: number): void {
    const controller = new AbortController();
    let idleTimer: ReturnType<typeof setTimeout> | undefined;
    const stopIdle = (): void => {
      if (idleTimer !== undefined) clearTimeout(idleTimer);
      idleTimer = undefined;
    };
    const resetIdle = (): void => {
      if (this.idleTimeout <= 0) return;
      stopIdle();
      idleTimer = setTimeout(() => {
        this.lost(generation, new BrokerError(`nothing received for ${this.idleTimeout} ms`, { status: 0, code: 'network' }));
      }, this.idleTimeout);
    };
    this.stopCurrent = () => {
      stopIdle();
      controller.abort();
    };
    /** Set by Broker's last comment when it ends the stream for its token. */
    let ended: TokenEnd | undefined;

    const run = async (): Promise<void> => {
      let token: string | undefined;
      if (this.useToken) {
        try {
          token = await this.ctx.token();
        } catch (error) {
          this.renewFailed(generation, error);
          return;
        }
        if (generation !== this.generation) return;
      }
      const headers: Record<string, string> = { accept: 'text/event-stream' };
      if (this.lastId !== undefined) headers['last-event-id'] = this.lastId;
      if (token !== undefined) headers.authorization = `Bearer ${token}`;
      let res: Response;
      try {
        res = await this.ctx.fetch(this.url(false), { headers, signal: controller.signal });
      } catch (error) {
        this.lost(generation, networkError(error));
        return;
      }
      if (generation !== this.generation) {
        controller.abort();
        return;
      }
      if (!res.ok) {
        const error = await errorFromResponse(res);
        this.failed(generation, error, token);
        return;
      }
      const type = res.headers.get('content-type') ?? '';
      if (!res.body || !type.startsWith('text/event-stream')) {
        controller.abort();
        this.closeWith(generation, new BrokerError(`not an event stream (${type || 'no content type'})`, { status: res.status, code: 'bad_response' }));
        return;
      }
      this.opened(generation, 'fetch');
      const parser = new SseParser(
        {
          onMessage: (message) => this.deliver(generation, message),
          onRetry: (ms) => {
            this.baseDelay = ms;
          },
          onComment: (text) => {
            ended = tokenEnd(text) ?? ended;
          },
        },
        this.lastId ?? '',
      );
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      resetIdle();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (generation !== this.generation) return;
          if (done) break;
          resetIdle();
          parser.push(decoder.decode(value, { stream: true }));
          if (generation !== this.generation) return;
        }
        if (ended !== undefined && token !== undefined) {
          const message = ended === 'expired' ? 'the token expired' : 'the token was revoked';
          this.renew(generation, token, new BrokerError(message, { status: 401, code: 'unauthorized' }));
        } else this.lost(generation, new BrokerError('the server ended the stream', { status: 0, code: 'network' }));
      } catch (error) {
        this.lost(generation, networkError(error));
      } finally {
        stopIdle();
        if (generation !== this.generation) reader.cancel().catch(() => {});
      }
    };
    void run();
  }

  private connectEventSource(generation: number): void {
    const EventSourceClass = this.ctx.EventSource;
    if (!EventSourceClass) throw new Error('unreachable: no EventSource');
    const url = this.url(true);
    const source = new EventSourceClass(url);
    let opened = false;
    this.stopCurrent = () => source.close();
    source.onopen = () => {
      opened = true;
      this.opened(generation, 'eventsource');
    };
    const onMessage = (event: MessageEvent): void => {
      this.deliver(generation, { lastEventId: event.lastEventId, event: event.type, data: String(event.data) });
    };
    for (const name of new Set([...(this.names ?? []), 'message'])) source.addEventListener(name, onMessage);
    source.onerror = () => {
      if (generation !== this.generation) return;
      // Never let the EventSource reconnect by itself: it has no backoff and gives up on errors.
      source.close();
      if (opened) this.lost(generation, new BrokerError('connection lost', { status: 0, code: 'network' }));
      else void this.probe(generation, url);
    };
  }

  /** The EventSource failed before opening, and does not say why: ask with fetch. */
  private async probe(generation: number, url: string): Promise<void> {
    const controller = new AbortController();
    this.stopCurrent = () => controller.abort();
    try {
      const res = await this.ctx.fetch(url, { headers: { accept: 'text/event-stream' }, signal: controller.signal });
      if (res.ok) {
        controller.abort();
        this.lost(generation, new BrokerError('the EventSource could not connect', { status: 0, code: 'network' }));
      } else {
        this.failed(generation, await errorFromResponse(res));
      }
    } catch (error) {
      this.lost(generation, networkError(error));
    }
  }

  private opened(generation: number, transport: Transport): void {
    if (generation !== this.generation) return;
    this.attempt = 0;
    this.renewedToken = undefined;
    this.setStatus({ state: 'open', transport, attempt: 0 });
  }

  /** Broker answered with an error status (`token`: the one sent, if any). */
  private failed(generation: number, error: BrokerError, token?: string): void {
    if (generation !== this.generation) return;
    const auto = this.options.auth === undefined || this.options.auth === 'auto';
    const anonymousRefused = error.status === 401 || (error.status === 403 && error.code === 'forbidden');
    if (anonymousRefused && auto && !this.useToken && this.ctx.hasToken()) {
      // STREAM_AUTH=true, or names only users may read: from now on with the token (fetch transport).
      this.useToken = true;
      this.connect();
      return;
    }
    if (error.status === 401 && this.useToken && this.ctx.hasToken() && !(token !== undefined && token === this.renewedToken)) {
      this.renew(generation, token, error);
      return;
    }
    if (isFatal(error.status)) this.closeWith(generation, error);
    else this.lost(generation, error);
  }

  /**
   * Broker refused the stream's token, or ended the stream because the token expired or was
   * revoked: get another (the client's current one, or a refreshed one) and reconnect at once,
   * resuming after the last id. Closes for good only when no token can be had.
   */
  private renew(generation: number, refused: string | undefined, error: BrokerError): void {
    if (generation !== this.generation || this.closed) return;
    this.abandon();
    const renewal = this.generation;
    this.lostOnce = true;
    this.setStatus({ state: 'reconnecting', transport: this.current.transport, attempt: this.attempt, error });
    this.ctx.renew(refused).then(
      (token) => {
        if (renewal !== this.generation || this.closed) return;
        this.renewedToken = token;
        this.connect();
      },
      (failure: unknown) => this.renewFailed(renewal, failure),
    );
  }

  /** No fresh token: the session is over (close for good), or Broker could not be reached (retry later). */
  private renewFailed(generation: number, failure: unknown): void {
    if (generation !== this.generation || this.closed) return;
    const error = failure instanceof Error ? failure : new Error(String(failure));
    if (failure instanceof BrokerError && isFatal(failure.status)) this.closeWith(generation, error);
    else this.lost(generation, error);
  }

  private closeWith(generation: number, error: Error): void {
    if (generation !== this.generation) return;
    this.abandon();
    this.setStatus({ state: 'closed', transport: this.current.transport, attempt: this.attempt, error });
    this.finish();
  }

  private finish(): void {
    this.closed = true;
    const target = globalThis as { removeEventListener?: (type: string, listener: () => void) => void };
    if (typeof target.removeEventListener === 'function') target.removeEventListener('online', this.onOnline);
  }

  /** The connection is gone (or never came): wait, then reconnect and resume. */
  private lost(generation: number, error: Error): void {
    if (generation !== this.generation || this.closed) return;
    const transport = this.current.transport;
    this.abandon();
    this.lostOnce = true;
    this.renewedToken = undefined; // the network failed, not the token
    this.attempt += 1;
    let delay = reconnectDelay(this.attempt, { baseMs: this.baseDelay, maxMs: this.maxDelay });
    if (error instanceof BrokerError && error.retryAfter !== undefined) delay = Math.max(delay, error.retryAfter * 1000);
    this.setStatus({ state: 'reconnecting', transport, attempt: this.attempt, retryInMs: delay, error });
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.connect();
    }, delay);
  }

  private deliver(generation: number, message: SseMessage): void {
    if (generation !== this.generation) return;
    if (message.lastEventId !== '') this.lastId = message.lastEventId;
    let data: unknown;
    try {
      data = JSON.parse(message.data);
    } catch {
      data = message.data;
    }
    const event: StreamEvent<T> = { id: message.lastEventId, event: message.event, data: data as T, receivedAt: new Date() };
    try {
      this.options.onEvent(event);
    } catch (error) {
      this.report(error);
    }
  }

  private setStatus(status: Omit<ConnectionStatus, 'lastEventId'>): void {
    this.current = this.lastId === undefined ? status : { ...status, lastEventId: this.lastId };
    if (this.closed) return;
    try {
      this.options.onStatus?.(this.current);
    } catch (error) {
      this.report(error);
    }
  }

  private report(error: unknown): void {
    if (this.options.onError) this.options.onError(error);
    else console.error('broker client: a callback threw', error);
  }
}
