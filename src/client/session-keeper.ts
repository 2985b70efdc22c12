import { BrokerError } from './errors.js';
import { type Session, sameSession } from './session.js';

/** Runs a refresh while holding a lock shared with other tabs (e.g. `navigator.locks`). */
export type RefreshLock = <T>(task: () => Promise<T>) => Promise<T>;

export interface SessionKeeperOptions {
  readonly initial: Session | undefined;
  /** `POST /token/refresh`: the new session, or a BrokerError. */
  readonly exchange: (refreshToken: string) => Promise<Session>;
  readonly onChange: (session: Session | undefined, previous: Session | undefined) => void;
  /** Refresh with a timer before the access token expires (and before a call, past that time). */
  readonly autoRefresh: boolean;
  /** Fraction of the time left on a new session after which it is refreshed (0–1). */
  readonly refreshAt: number;
  readonly lock: RefreshLock | undefined;
}

/** A refresh (or a password change) in flight: everyone who needs a new token waits for it. */
interface InFlight {
  /** The session it replaces. */
  readonly from: Session;
  /** The new session as Broker answered it, adopted or not. */
  readonly raw: Promise<Session>;
  /** The new session once adopted (rejects when the session changed meanwhile). */
  readonly result: Promise<Session>;
  /** A password change: if it fails, a waiting caller refreshes instead. */
  readonly replacing: boolean;
}

/** setTimeout's longest delay (2^31 − 1 ms, about 24.8 days); a longer one fires at once. */
const MAX_TIMER_MS = 2_147_483_647;
/** After a refresh that failed for a passing reason (network, 5xx), wait at least this long. */
const MIN_RETRY_MS = 1000;

/** A refresh error that means the session is over (spent or expired refresh token, ended session). */
export function sessionOver(error: unknown): boolean {
  return error instanceof BrokerError && (error.status === 401 || error.status === 403);
}

function loggedOut(message: string): BrokerError {
  return new BrokerError(message, { status: 401, code: 'unauthorized' });
}

/**
 * The client's session: the access token, the refresh token and the access token's expiry.
 * Refreshes are single-flight — concurrent callers share one `POST /token/refresh` — because
 * Broker rotates refresh tokens and a second use of a spent one ends the session. With
 * `autoRefresh`, a timer (unref'd in Node.js: it never keeps a process alive) refreshes once
 * `refreshAt` of the token's time has passed, and a call made after that time (the timer was
 * throttled in a background tab, or the computer slept) refreshes first.
 */
export class SessionKeeper {
  private session: Session | undefined;
  /** When the current session is due for a refresh, epoch ms (autoRefresh only). */
  private dueAt: number | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private inFlight: InFlight | undefined;

  constructor(private readonly options: SessionKeeperOptions) {
    this.session = options.initial;
    this.arm();
  }

  get current(): Session | undefined {
    return this.session;
  }

  /** Replaces the session (undefined: forgets it), re-arms the timer and reports the change. */
  set(session: Session | undefined): void {
    const previous = this.session;
    if (sameSession(previous, session)) return;
    this.session = session;
    this.arm();
    this.options.onChange(session, previous);
  }

  /** The token to send now. Past the refresh time, refreshes first (a passing failure keeps the old one). */
  async token(): Promise<string | undefined> {
    const session = this.session;
    if (session?.refreshToken && this.dueAt !== undefined && Date.now() >= this.dueAt) {
      try {
        return (await this.refresh()).token;
      } catch (error) {
        if (sessionOver(error)) throw error;
        // Network or server trouble: the old token may still work; a 401 will say if not.
      }
    }
    return this.session?.token;
  }

  /** Exchanges the refresh token for a new pair; concurrent calls share one exchange. */
  refresh(): Promise<Session> {
    const from = this.session;
    const running = this.inFlight;
    if (running && running.from === from) {
      // A failed password change replaced nothing: refresh the session it left as it was.
      return running.replacing ? running.result.catch(() => this.refresh()) : running.result;
    }
    if (!from) return Promise.reject(loggedOut('not logged in: call login() first'));
    const refreshToken = from.refreshToken;
    if (!refreshToken) return Promise.reject(loggedOut('the token is not valid and there is no refresh token: log in again'));
    const exchange = (): Promise<Session> => {
      // Waiting for the lock, another tab may have refreshed, and the app adopted its session.
      const now = this.session;
      if (now === undefined) return Promise.reject(loggedOut('logged out'));
      return now === from ? this.options.exchange(refreshToken) : Promise.resolve(now);
    };
    const lock = this.options.lock;
    return this.track(from, lock ? lock(exchange) : exchange(), false);
  }

  /**
   * Runs a call that replaces the session (a password change ends every session and answers a
   * new pair) as the one in-flight refresh: a token refused meanwhile waits for its result
   * instead of spending the old refresh token on a session that is over.
   */
  async replace(task: () => Promise<Session>): Promise<Session> {
    // A refresh in flight first: the new pair must replace the session that refresh brings.
    if (this.inFlight) await this.inFlight.result.catch(() => undefined);
    const from = this.session;
    if (!from) throw loggedOut('not logged in: call login() first');
    return this.track(from, task(), true);
  }

  /**
   * A token to use instead of `refused`, which Broker refused (401): the current one if it is
   * another (refreshed or logged in meanwhile), else a refreshed one. Rejects when there is none.
   */
  async replacement(refused: string | undefined): Promise<string> {
    const session = this.session;
    // Refreshed or logged in since: that token, unless it is itself being replaced right now
    // (a password change ends every session: wait for the pair it answers).
    if (session && session.token !== refused && this.inFlight?.from !== session) return session.token;
    return (await this.refresh()).token;
  }

  /** The session an in-flight refresh is about to bring, as Broker answered it (for logout). */
  settling(): Promise<Session> | undefined {
    return this.inFlight?.raw;
  }

  private track(from: Session, raw: Promise<Session>, replacing: boolean): Promise<Session> {
    const result = raw.then(
      (next) => {
        // A password change answers the only session left (it ended all others): keep it
        // unless the client was logged out meanwhile.
        if (this.session === from || (replacing && this.session !== undefined)) this.set(next);
        else if (this.session?.token !== next.token) throw loggedOut('the session changed (logout or login) during the refresh');
        return next;
      },
      (error: unknown) => {
        // The refresh token is no good (spent, expired, session ended): the login is over.
        if (!replacing && this.session === from && sessionOver(error)) this.set(undefined);
        throw error;
      },
    );
    const flight: InFlight = { from, raw, result, replacing };
    this.inFlight = flight;
    const clear = (): void => {
      if (this.inFlight === flight) this.inFlight = undefined;
    };
    result.then(clear, clear);
    return result;
  }

  private arm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.dueAt = undefined;
    const session = this.session;
    if (!this.options.autoRefresh || !session?.refreshToken || session.expiresAt === undefined) return;
    // refreshAt of the time left: for a new pair, of its lifetime (80 % of EXPIRY by default).
    this.schedule(session, Math.max(0, (session.expiresAt - Date.now()) * this.options.refreshAt));
  }

  private schedule(session: Session, delayMs: number): void {
    this.dueAt = Date.now() + delayMs;
    const timer = setTimeout(() => this.onTimer(session), Math.min(delayMs, MAX_TIMER_MS));
    // Node.js: a pending refresh must not keep the process alive (browsers return a number).
    if (typeof timer === 'object' && timer !== null && 'unref' in timer) timer.unref();
    this.timer = timer;
  }

  private onTimer(session: Session): void {
    this.timer = undefined;
    if (this.session !== session) return;
    if (this.dueAt !== undefined && Date.now() < this.dueAt) {
      this.schedule(session, this.dueAt - Date.now()); // a delay longer than setTimeout's longest
      return;
    }
    this.refresh().catch((error: unknown) => {
      if (this.session !== session || sessionOver(error)) return;
      // A passing failure: try again while the token still works; once it expired, the next
      // call (or stream) that needs it refreshes.
      const left = (session.expiresAt ?? 0) - Date.now();
      if (left > MIN_RETRY_MS) this.schedule(session, Math.max(MIN_RETRY_MS, left * this.options.refreshAt));
    });
  }
}
