import { BrokerClient, readSession, type Session } from '../client/index.js';

/** The session (access token, refresh token, expiry), shared by the console's and the demo's tabs. */
const SESSION_KEY = 'broker.console.session';
/** What earlier versions kept: a bare token, a username, pending event ids. Removed on sight. */
const OLD_KEY_PREFIXES = ['broker.console.token', 'broker.console.username', 'broker.console.pending.'];
/** Held (navigator.locks) while one tab refreshes the shared session. */
const REFRESH_LOCK = 'broker.console.refresh';

/** Broker's base URL: the console lives at <base>/console/, whatever prefix Broker is mounted at. */
export function brokerBase(): URL {
  return new URL('..', location.href);
}

function storedSession(): Session | undefined {
  let session: Session | undefined;
  try {
    session = readSession(JSON.parse(localStorage.getItem(SESSION_KEY) ?? 'null'));
  } catch {
    session = undefined;
  }
  // Without a refresh token, an expired token is of no use.
  if (session && !session.refreshToken && session.expiresAt !== undefined && session.expiresAt <= Date.now()) session = undefined;
  return session;
}

function store(session: Session | undefined): void {
  const text = session === undefined ? null : JSON.stringify(session);
  if (localStorage.getItem(SESSION_KEY) === text) return;
  if (text === null) localStorage.removeItem(SESSION_KEY);
  else localStorage.setItem(SESSION_KEY, text);
}

function forgetOldKeys(): void {
  for (let i = localStorage.length - 1; i >= 0; i--) {
    const key = localStorage.key(i);
    if (key && OLD_KEY_PREFIXES.some((prefix) => key.startsWith(prefix))) localStorage.removeItem(key);
  }
}

/**
 * A client for this Broker whose session lives in localStorage, so the console and the demo
 * (every tab of them) share one login. The client refreshes the access token by itself; since
 * Broker rotates the refresh token on every use and ends the session when a spent one comes
 * back, tabs must never refresh the same one twice: each refresh runs under a Web Lock shared
 * by the tabs, and first adopts what another tab may have stored meanwhile. `onChange` is told
 * of every change, this tab's or another's (`otherTab`); undefined: logged out, or the session
 * is over.
 */
export function createSessionClient(onChange?: (session: Session | undefined, otherTab: boolean) => void): BrokerClient {
  let adopting = false;
  const adopt = (): void => {
    adopting = true;
    try {
      client.setSession(storedSession());
    } finally {
      adopting = false;
    }
  };
  forgetOldKeys();
  const initial = storedSession();
  const client: BrokerClient = new BrokerClient({
    url: brokerBase(),
    ...(initial === undefined ? {} : { session: initial }),
    onSessionChange: (session) => {
      store(session);
      onChange?.(session, adopting);
    },
    refreshLock: <T>(task: () => Promise<T>): Promise<T> => {
      // Without Web Locks (older browsers), tabs may race: one of them then logs in again.
      if (!('locks' in navigator)) return task();
      return new Promise<T>((resolve, reject) => {
        navigator.locks
          .request(REFRESH_LOCK, async () => {
            adopt();
            resolve(await task());
          })
          .catch(reject);
      });
    },
  });
  window.addEventListener('storage', (event) => {
    if (event.key === SESSION_KEY || event.key === null) adopt();
  });
  return client;
}
