import { BrokerError, errorFromResponse } from './errors.js';
import { EventStream } from './event-stream.js';
import type { BrokerEvent, EventSourceConstructor, SubscribeOptions, Subscription } from './types.js';

export interface BrokerClientOptions {
  /**
   * Broker's base URL, e.g. `http://localhost:8080` or `https://example.com/broker` when it is
   * mounted under a prefix. In a browser it defaults to the page's origin.
   */
  readonly url?: string | URL;
  /** A token from an earlier login (e.g. kept in sessionStorage). */
  readonly token?: string;
  /** Called whenever the token changes (login, logout, setToken). */
  readonly onTokenChange?: (token: string | undefined) => void;
  /** The fetch to use (default: the global one). */
  readonly fetch?: typeof fetch;
  /** The EventSource to use (default: the global one if any); `null` never uses one. */
  readonly EventSource?: EventSourceConstructor | null;
}

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

export interface NewUser extends Credentials {
  /** Any JSON about the user. */
  readonly info?: unknown;
}

export interface NewEvent<T = unknown> {
  readonly event: string;
  readonly data: T;
  /** When to release it: a Date, or epoch seconds. Omitted: now. */
  readonly timestamp?: Date | number;
}

export interface HistoryOptions {
  /** Versions per page, 1–1000 (Broker's default: 1000). */
  readonly limit?: number;
  /** The `next` of the previous page. */
  readonly after?: string;
  readonly signal?: AbortSignal;
}

export interface HistoryPage<T = unknown> {
  /** Ascending timestamp (ties in insertion order). */
  readonly events: BrokerEvent<T>[];
  /** Pass as `after` for the next page; absent on the last page. */
  readonly next?: string;
}

/** Epoch seconds of a Date or a number, checked. */
export function toEpochSeconds(timestamp: Date | number): number {
  const seconds = timestamp instanceof Date ? timestamp.getTime() / 1000 : timestamp;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) throw new TypeError('timestamp must be a valid Date or epoch seconds');
  return seconds;
}

function defaultBaseUrl(): string {
  const location = (globalThis as { location?: { origin?: string } }).location;
  if (location?.origin && location.origin !== 'null') return location.origin;
  throw new TypeError('BrokerClient: url is required outside a browser');
}

/**
 * A client for the whole Broker API: users and login (the client keeps the token), insert,
 * history with paging, cancel, and `subscribe` to the stream with reconnection and resume.
 * Works in browsers and in Node.js 20; no dependencies.
 */
export class BrokerClient {
  /** Base URL, always ending with `/`. */
  readonly url: URL;
  private currentToken: string | undefined;
  private readonly fetchImpl: typeof fetch;
  private readonly eventSource: EventSourceConstructor | undefined;
  private readonly onTokenChange: ((token: string | undefined) => void) | undefined;

  constructor(options: BrokerClientOptions = {}) {
    const url = new URL(String(options.url ?? defaultBaseUrl()));
    if (!url.pathname.endsWith('/')) url.pathname += '/';
    url.search = '';
    url.hash = '';
    this.url = url;
    this.currentToken = options.token;
    this.onTokenChange = options.onTokenChange;
    const globalFetch = (globalThis as { fetch?: typeof fetch }).fetch;
    const chosenFetch = options.fetch ?? globalFetch;
    if (!chosenFetch) throw new TypeError('BrokerClient: no fetch in this environment; pass options.fetch');
    // Unbound, a browser's fetch throws "Illegal invocation".
    this.fetchImpl = options.fetch ?? ((input, init) => chosenFetch.call(globalThis, input, init));
    const globalEventSource = (globalThis as { EventSource?: EventSourceConstructor }).EventSource;
    this.eventSource = options.EventSource === null ? undefined : (options.EventSource ?? globalEventSource);
  }

  /** The token of the last login, if any. */
  get token(): string | undefined {
    return this.currentToken;
  }

  setToken(token: string | undefined): void {
    if (token === this.currentToken) return;
    this.currentToken = token;
    this.onTokenChange?.(token);
  }

  /** Forgets the token. */
  logout(): void {
    this.setToken(undefined);
  }

  /** POST /users → the new user's id. */
  async createUser(user: NewUser): Promise<{ id: string }> {
    const body: Record<string, unknown> = { username: user.username, password: user.password };
    if (user.info !== undefined) body.info = user.info;
    return this.json<{ id: string }>('POST', 'users', { body });
  }

  /** POST /login; keeps the token for the calls that need it, and returns it. */
  async login(credentials: Credentials): Promise<string> {
    const { jwt } = await this.json<{ jwt: string }>('POST', 'login', {
      body: { username: credentials.username, password: credentials.password },
    });
    this.setToken(jwt);
    return jwt;
  }

  /** POST /insert: released at `timestamp` (a Date or epoch seconds; omitted: now). */
  async insert<T>(event: NewEvent<T>): Promise<{ id: string }> {
    const body: Record<string, unknown> = { event: event.event, data: event.data === undefined ? null : event.data };
    if (event.timestamp !== undefined) body.timestamp = toEpochSeconds(event.timestamp);
    return this.json<{ id: string }>('POST', 'insert', { body, auth: true });
  }

  /** GET /events/{name}: one page of every version of a name (released, pending, cancelled). */
  async history<T = unknown>(name: string, options: HistoryOptions = {}): Promise<HistoryPage<T>> {
    const params = new URLSearchParams();
    if (options.limit !== undefined) params.set('limit', String(options.limit));
    if (options.after !== undefined) params.set('after', options.after);
    const query = params.toString();
    const path = `events/${encodeURIComponent(name)}${query ? `?${query}` : ''}`;
    const res = await this.send('GET', path, { auth: true, ...(options.signal ? { signal: options.signal } : {}) });
    const events = (await readJson(res)) as BrokerEvent<T>[];
    const next = res.headers.get('x-next-after');
    return next ? { events, next } : { events };
  }

  /** Every version of a name, page after page. */
  async *historyAll<T = unknown>(name: string, options: { pageSize?: number; signal?: AbortSignal } = {}): AsyncGenerator<BrokerEvent<T>> {
    let after: string | undefined;
    do {
      const page: HistoryPage<T> = await this.history<T>(name, {
        ...(options.pageSize === undefined ? {} : { limit: options.pageSize }),
        ...(after === undefined ? {} : { after }),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      yield* page.events;
      after = page.next;
    } while (after !== undefined);
  }

  /** Cancels a future event of yours → the event, `cancelled: true`. */
  async cancel<T = unknown>(id: string): Promise<BrokerEvent<T>> {
    return this.json<BrokerEvent<T>>('POST', `events/${encodeURIComponent(id)}/cancel`, { auth: true });
  }

  /**
   * Subscribes to the stream: the latest value of each name, then live events (or, with
   * `lastEventId`, what came after it). Reconnects with backoff and jitter and resumes where it
   * stopped, so no event is lost or repeated across a network drop.
   */
  subscribe<T = unknown>(options: SubscribeOptions<T>): Subscription {
    return new EventStream<T>(
      { baseUrl: this.url, fetch: this.fetchImpl, EventSource: this.eventSource, token: () => this.currentToken },
      options,
    );
  }

  private async json<T>(method: string, path: string, options: { body?: unknown; auth?: boolean }): Promise<T> {
    return (await readJson(await this.send(method, path, options))) as T;
  }

  private async send(
    method: string,
    path: string,
    options: { body?: unknown; auth?: boolean; signal?: AbortSignal },
  ): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    if (options.auth) {
      if (this.currentToken === undefined) {
        throw new BrokerError('not logged in: call login() first', { status: 401, code: 'unauthorized' });
      }
      headers.authorization = `Bearer ${this.currentToken}`;
    }
    let res: Response;
    try {
      res = await this.fetchImpl(new URL(path, this.url).toString(), {
        method,
        headers,
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (error) {
      throw new BrokerError(`network error: ${error instanceof Error ? error.message : String(error)}`, {
        status: 0,
        code: 'network',
        cause: error,
      });
    }
    if (!res.ok) throw await errorFromResponse(res);
    return res;
  }
}

async function readJson(res: Response): Promise<unknown> {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new BrokerError('the answer is not JSON', { status: res.status, code: 'bad_response', cause: error });
  }
}
