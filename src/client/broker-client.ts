import { readEvents, readProfile, readUserAccount, readUserList } from './answers.js';
import { reconnectDelay } from './backoff.js';
import { BrokerError, errorFromResponse } from './errors.js';
import { EventStream } from './event-stream.js';
import { readSession, type Session, sessionFromPair } from './session.js';
import { type RefreshLock, SessionKeeper } from './session-keeper.js';
import type {
  BrokerEvent,
  EventSourceConstructor,
  Profile,
  SubscribeOptions,
  Subscription,
  UserAccount,
  UserPatch,
} from './types.js';

export interface BrokerClientOptions {
  /**
   * Broker's base URL, e.g. `http://localhost:8080` or `https://example.com/broker` when it is
   * mounted under a prefix. In a browser it defaults to the page's origin.
   */
  readonly url?: string | URL;
  /** A token from an earlier login (e.g. kept in sessionStorage); `session` keeps more. */
  readonly token?: string;
  /** Called whenever the access token changes (login, refresh, logout, setToken, setSession). */
  readonly onTokenChange?: (token: string | undefined) => void;
  /**
   * A session from an earlier login (what `onSessionChange` gave): with its refresh token, the
   * client renews the access token by itself. Wins over `token`.
   */
  readonly session?: Session;
  /**
   * Called whenever the session changes (login, every refresh — the refresh token rotates —,
   * password change, logout, setToken, setSession, and `undefined` when a refresh finds the
   * session over): persist it here, the way `onTokenChange` persists the token.
   */
  readonly onSessionChange?: (session: Session | undefined) => void;
  /**
   * Refresh the access token before it expires (default true): with a timer at `refreshAt` of
   * its lifetime, and before a call made past that time. `false`: only when Broker answers 401.
   */
  readonly autoRefresh?: boolean;
  /** Fraction of the access token's lifetime after which it is refreshed (default 0.8). */
  readonly refreshAt?: number;
  /**
   * Runs each refresh inside a lock shared by every tab of the session (e.g.
   * `(task) => navigator.locks.request('broker-refresh', task)`), so that tabs sharing a stored
   * session never spend its refresh token twice. Adopt the session another tab stored
   * (`setSession`, on the `storage` event) before the task runs: the client then uses it
   * instead of refreshing again.
   */
  readonly refreshLock?: RefreshLock;
  /** The fetch to use (default: the global one). */
  readonly fetch?: typeof fetch;
  /** The EventSource to use (default: the global one if any); `null` never uses one. */
  readonly EventSource?: EventSourceConstructor | null;
  /**
   * How often an insert is sent again after a network error or a 502/503/504 (default 4): with
   * its Idempotency-Key, so an insert is stored exactly once however often it is sent. 0: never.
   */
  readonly insertRetries?: number;
}

/** Options of `insert` and `insertMany`. */
export interface InsertOptions {
  /** The Idempotency-Key (default: a new random one per call, kept across its retries). */
  readonly idempotencyKey?: string;
  readonly signal?: AbortSignal;
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

export interface UserListOptions {
  /** Only usernames containing this text (letter case ignored). */
  readonly search?: string;
  /** Users per page, 1–1000. */
  readonly limit?: number;
  /** The `next` of the previous page. */
  readonly after?: string;
  readonly signal?: AbortSignal;
}

export interface UserPage<I = unknown> {
  readonly users: UserAccount<I>[];
  /** Pass as `after` for the next page; absent on the last page. */
  readonly next?: string;
}

interface SendOptions {
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** Send the session's token (refreshed when due; once more, refreshed, after a 401). */
  readonly auth?: boolean;
  readonly signal?: AbortSignal;
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

/** The part of a 401 that a fresh token can fix (not `invalid_credentials`: a wrong password). */
function tokenRefused(error: unknown): error is BrokerError {
  return error instanceof BrokerError && error.status === 401 && error.code === 'unauthorized';
}

/**
 * A client for the whole Broker API: users and login (the client keeps the session and renews
 * its token), insert, history with paging, cancel, the caller's account and pending events, the
 * admin API, and `subscribe` to the stream with reconnection and resume.
 * Works in browsers and in Node.js 20; no dependencies.
 */
export class BrokerClient {
  /** Base URL, always ending with `/`. */
  readonly url: URL;
  private readonly keeper: SessionKeeper;
  private readonly fetchImpl: typeof fetch;
  private readonly eventSource: EventSourceConstructor | undefined;
  private readonly insertRetries: number;

  constructor(options: BrokerClientOptions = {}) {
    const retries = options.insertRetries ?? DEFAULT_INSERT_RETRIES;
    if (!Number.isInteger(retries) || retries < 0) throw new TypeError('BrokerClient: insertRetries must be a whole number ≥ 0');
    this.insertRetries = retries;
    const url = new URL(String(options.url ?? defaultBaseUrl()));
    if (!url.pathname.endsWith('/')) url.pathname += '/';
    url.search = '';
    url.hash = '';
    this.url = url;
    const globalFetch = (globalThis as { fetch?: typeof fetch }).fetch;
    const chosenFetch = options.fetch ?? globalFetch;
    if (!chosenFetch) throw new TypeError('BrokerClient: no fetch in this environment; pass options.fetch');
    // Unbound, a browser's fetch throws "Illegal invocation".
    this.fetchImpl = options.fetch ?? ((input, init) => chosenFetch.call(globalThis, input, init));
    const globalEventSource = (globalThis as { EventSource?: EventSourceConstructor }).EventSource;
    this.eventSource = options.EventSource === null ? undefined : (options.EventSource ?? globalEventSource);
    const refreshAt = options.refreshAt ?? 0.8;
    if (!(refreshAt > 0 && refreshAt < 1)) throw new TypeError('BrokerClient: refreshAt must be between 0 and 1');
    const initial = options.session === undefined ? undefined : readSession(options.session);
    if (options.session !== undefined && initial === undefined) throw new TypeError('BrokerClient: session must have a token');
    const { onTokenChange, onSessionChange } = options;
    this.keeper = new SessionKeeper({
      initial: initial ?? (options.token === undefined ? undefined : { token: options.token }),
      exchange: (refreshToken) => this.exchange(refreshToken),
      onChange: (session, previous) => {
        onSessionChange?.(session);
        if (session?.token !== previous?.token) onTokenChange?.(session?.token);
      },
      autoRefresh: options.autoRefresh ?? true,
      refreshAt,
      lock: options.refreshLock,
    });
  }

  /** The access token of the session, if any. */
  get token(): string | undefined {
    return this.keeper.current?.token;
  }

  /** The session (access token, refresh token, expiry), if any. */
  get session(): Session | undefined {
    return this.keeper.current;
  }

  /** Uses this token, without a refresh token (undefined: forgets the session, sending nothing). */
  setToken(token: string | undefined): void {
    if (token === this.token) return;
    this.keeper.set(token === undefined ? undefined : { token });
  }

  /** Uses this session, e.g. one another tab stored (undefined: forgets it, sending nothing). */
  setSession(session: Session | undefined): void {
    const checked = session === undefined ? undefined : readSession(session);
    if (session !== undefined && checked === undefined) throw new TypeError('setSession: a session must have a token');
    this.keeper.set(checked);
  }

  /**
   * Logs out: forgets the session at once (before returning, like `setSession(undefined)`), then
   * asks Broker to end it (`POST /logout`), so that its tokens stop working everywhere and its
   * streams close. Best effort: resolves with whether Broker confirmed, never rejects. An access
   * token that has expired is first traded for a fresh one with the refresh token.
   */
  async logout(): Promise<boolean> {
    const settling = this.keeper.settling();
    let session = this.keeper.current;
    this.keeper.set(undefined);
    // A refresh in flight spends the refresh token we hold: end the session with its result.
    if (settling) session = (await settling.catch(() => undefined)) ?? session;
    if (!session) return false;
    let { token, refreshToken } = session;
    for (;;) {
      try {
        await this.request('POST', 'logout', {}, token);
        return true;
      } catch (error) {
        if (!tokenRefused(error) || refreshToken === undefined) return false;
        try {
          token = (await this.exchange(refreshToken)).token;
        } catch {
          return false;
        }
        refreshToken = undefined;
      }
    }
  }

  /**
   * Exchanges the refresh token for a new pair (`POST /token/refresh`) and keeps it. The client
   * does this by itself (before expiry, and after a 401); concurrent calls share one request.
   * When Broker refuses (the session is over), the client forgets the session.
   */
  refresh(): Promise<Session> {
    return this.keeper.refresh();
  }

  /** POST /users → the new user's id. */
  async createUser(user: NewUser): Promise<{ id: string }> {
    const body: Record<string, unknown> = { username: user.username, password: user.password };
    if (user.info !== undefined) body.info = user.info;
    return this.json<{ id: string }>('POST', 'users', { body });
  }

  /** POST /login; keeps the session (token, refresh token, expiry) and returns the token. */
  async login(credentials: Credentials): Promise<string> {
    const res = await this.send('POST', 'login', { body: { username: credentials.username, password: credentials.password } });
    const session = sessionFromPair(await readJson(res));
    this.keeper.set(session);
    return session.token;
  }

  /**
   * POST /insert: released at `timestamp` (a Date or epoch seconds; omitted: now). Sent with an
   * Idempotency-Key and retried on network errors and 502/503/504 with backoff, so it is stored
   * exactly once.
   */
  async insert<T>(event: NewEvent<T>, options: InsertOptions = {}): Promise<{ id: string }> {
    return this.insertBody<{ id: string }>(insertItem(event), options);
  }

  /** POST /insert of a batch: all stored or none, in one commit; the ids in order. */
  async insertMany<T>(events: readonly NewEvent<T>[], options: InsertOptions = {}): Promise<{ id: string }[]> {
    if (!Array.isArray(events) || events.length === 0) throw new TypeError('insertMany: events must be a non-empty array');
    return this.insertBody<{ id: string }[]>(events.map(insertItem), options);
  }

  /** GET /events/{name}: one page of every version of a name (released, pending, cancelled). */
  async history<T = unknown>(name: string, options: HistoryOptions = {}): Promise<HistoryPage<T>> {
    return this.eventPage<T>(`events/${encodeURIComponent(name)}${query({ limit: options.limit, after: options.after })}`, options.signal);
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

  /** GET /me/pending: one page of your events not yet released nor cancelled (ascending timestamp). */
  async pending<T = unknown>(options: HistoryOptions = {}): Promise<HistoryPage<T>> {
    return this.eventPage<T>(`me/pending${query({ limit: options.limit, after: options.after })}`, options.signal);
  }

  /** Every pending event of yours, page after page. */
  async *pendingAll<T = unknown>(options: { pageSize?: number; signal?: AbortSignal } = {}): AsyncGenerator<BrokerEvent<T>> {
    let after: string | undefined;
    do {
      const page: HistoryPage<T> = await this.pending<T>({
        ...(options.pageSize === undefined ? {} : { limit: options.pageSize }),
        ...(after === undefined ? {} : { after }),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      yield* page.events;
      after = page.next;
    } while (after !== undefined);
  }

  /** GET /me: your id, username, info and roles. */
  async me<I = unknown>(): Promise<Profile<I>> {
    return readProfile(await readJson(await this.send('GET', 'me', { auth: true }))) as Profile<I>;
  }

  /** PATCH /me: replaces your info (any JSON) → your profile. */
  async updateMe<I = unknown>(info: I): Promise<Profile<I>> {
    const body = { info: info === undefined ? null : info };
    return readProfile(await readJson(await this.send('PATCH', 'me', { body, auth: true }))) as Profile<I>;
  }

  /**
   * POST /me/password: every session of yours ends (other devices log in again); this client
   * keeps the new one Broker answers, and resolves with its token.
   */
  async changePassword(oldPassword: string, newPassword: string): Promise<string> {
    const body = { old_password: oldPassword, new_password: newPassword };
    const session = await this.keeper.replace(async () => {
      return sessionFromPair(await readJson(await this.send('POST', 'me/password', { body, auth: true })));
    });
    return session.token;
  }

  /**
   * GET /admin/users (role admin): one page of users in username order; `search` keeps the
   * usernames containing it (letter case ignored).
   */
  async listUsers<I = unknown>(options: UserListOptions = {}): Promise<UserPage<I>> {
    const search = options.search === '' ? undefined : options.search;
    const res = await this.send('GET', `admin/users${query({ search, limit: options.limit, after: options.after })}`, {
      auth: true,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return readUserList(await readJson(res)) as UserPage<I>;
  }

  /** GET /admin/users/{id} (role admin). */
  async getUser<I = unknown>(id: string): Promise<UserAccount<I>> {
    const res = await this.send('GET', `admin/users/${encodeURIComponent(id)}`, { auth: true });
    return readUserAccount(await readJson(res)) as UserAccount<I>;
  }

  /**
   * PATCH /admin/users/{id} (role admin): info, roles, password, disabled → the user. A new
   * password, a disabled account or changed roles end the user's sessions.
   */
  async updateUser<I = unknown>(id: string, patch: UserPatch): Promise<UserAccount<I>> {
    const body: Record<string, unknown> = {};
    if (patch.info !== undefined) body.info = patch.info;
    if (patch.roles !== undefined) body.roles = [...patch.roles];
    if (patch.password !== undefined) body.password = patch.password;
    if (patch.disabled !== undefined) body.disabled = patch.disabled;
    const res = await this.send('PATCH', `admin/users/${encodeURIComponent(id)}`, { body, auth: true });
    return readUserAccount(await readJson(res)) as UserAccount<I>;
  }

  /** DELETE /admin/users/{id} (role admin). Their events stay. */
  async deleteUser(id: string): Promise<{ id: string; deleted: true }> {
    await this.send('DELETE', `admin/users/${encodeURIComponent(id)}`, { auth: true });
    return { id, deleted: true };
  }

  /**
   * Subscribes to the stream: the latest value of each name, then live events (or, with
   * `lastEventId`, what came after it). Reconnects with backoff and jitter and resumes where it
   * stopped, so no event is lost or repeated across a network drop.
   */
  subscribe<T = unknown>(options: SubscribeOptions<T>): Subscription {
    const keeper = this.keeper;
    return new EventStream<T>(
      {
        baseUrl: this.url,
        fetch: this.fetchImpl,
        EventSource: this.eventSource,
        hasToken: () => keeper.current !== undefined,
        token: () => keeper.token(),
        renew: (refused) => keeper.replacement(refused),
      },
      options,
    );
  }

  /** POST /token/refresh, without touching the session: the new one. */
  private async exchange(refreshToken: string): Promise<Session> {
    const res = await this.request('POST', 'token/refresh', { body: { refresh_token: refreshToken } }, undefined);
    return sessionFromPair(await readJson(res));
  }

  private async eventPage<T>(path: string, signal: AbortSignal | undefined): Promise<HistoryPage<T>> {
    const res = await this.send('GET', path, { auth: true, ...(signal ? { signal } : {}) });
    const events = readEvents(await readJson(res)) as BrokerEvent<T>[];
    const next = res.headers.get('x-next-after');
    return next ? { events, next } : { events };
  }

  /** An insert, retried with one Idempotency-Key while the failure is one a retry can fix. */
  private async insertBody<T>(body: unknown, options: InsertOptions): Promise<T> {
    const key = options.idempotencyKey ?? randomKey();
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.json<T>('POST', 'insert', {
          body,
          auth: true,
          headers: { 'idempotency-key': key },
          ...(options.signal ? { signal: options.signal } : {}),
        });
      } catch (error) {
        if (!(error instanceof BrokerError) || !retryable(error) || attempt >= this.insertRetries || options.signal?.aborted) throw error;
        const wait = error.retryAfter !== undefined ? error.retryAfter * 1000 : reconnectDelay(attempt + 1, INSERT_BACKOFF);
        await new Promise((resolve) => setTimeout(resolve, Math.min(wait, INSERT_BACKOFF.maxMs)));
      }
    }
  }

  private async json<T>(method: string, path: string, options: SendOptions): Promise<T> {
    return (await readJson(await this.send(method, path, options))) as T;
  }

  /**
   * Sends a request; with `auth`, with the session's token — refreshed first when it is due —
   * and, when Broker refuses that token (401), once more with a fresh one.
   */
  private async send(method: string, path: string, options: SendOptions): Promise<Response> {
    if (!options.auth) return this.request(method, path, options, undefined);
    const token = await this.keeper.token();
    if (token === undefined) throw new BrokerError('not logged in: call login() first', { status: 401, code: 'unauthorized' });
    try {
      return await this.request(method, path, options, token);
    } catch (error) {
      const session = this.keeper.current;
      // Nothing to refresh with, and no other token since: the 401 stands.
      if (!tokenRefused(error) || !session || (session.token === token && !session.refreshToken)) throw error;
      return this.request(method, path, options, await this.keeper.replacement(token));
    }
  }

  private async request(method: string, path: string, options: SendOptions, token: string | undefined): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
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

const DEFAULT_INSERT_RETRIES = 4;
/** Waits between insert attempts (ms): 250, 500, 1000, 2000, … up to 5 s, with jitter. */
const INSERT_BACKOFF = { baseMs: 250, maxMs: 5000 } as const;

/** Failures where sending the same insert again can succeed: no answer, or a server between states. */
function retryable(error: BrokerError): boolean {
  return error.status === 0 || error.status === 502 || error.status === 503 || error.status === 504;
}

function insertItem<T>(event: NewEvent<T>): Record<string, unknown> {
  const item: Record<string, unknown> = { event: event.event, data: event.data === undefined ? null : event.data };
  if (event.timestamp !== undefined) item.timestamp = toEpochSeconds(event.timestamp);
  return item;
}

/** A random Idempotency-Key: a UUID where the platform has one (browsers: secure contexts only). */
function randomKey(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string; getRandomValues?: (a: Uint8Array) => Uint8Array } }).crypto;
  if (c?.randomUUID) return c.randomUUID();
  const bytes = new Uint8Array(16);
  if (c?.getRandomValues) c.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** `?name=value&…` of the defined parameters, or ''. */
function query(parameters: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(parameters)) if (value !== undefined) params.set(name, String(value));
  const text = params.toString();
  return text ? `?${text}` : '';
}

async function readJson(res: Response): Promise<unknown> {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new BrokerError('the answer is not JSON', { status: res.status, code: 'bad_response', cause: error });
  }
}
