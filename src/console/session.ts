import { BrokerClient } from '../client/index.js';

const TOKEN_KEY = 'broker.console.token';
const USERNAME_KEY = 'broker.console.username';

export interface Claims {
  /** The user id. */
  readonly sub: string;
  /** Expiry, epoch seconds. */
  readonly exp: number;
}

/** Broker's base URL: the console lives at <base>/console/, whatever prefix Broker is mounted at. */
export function brokerBase(): URL {
  return new URL('..', location.href);
}

/** The claims of a JWT (not verified: only Broker can; this is for display and expiry). */
export function readClaims(token: string | undefined): Claims | undefined {
  const payload = token?.split('.')[1];
  if (!payload) return undefined;
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    const parsed: unknown = JSON.parse(json);
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const { sub, exp } = parsed as Record<string, unknown>;
    return typeof sub === 'string' && typeof exp === 'number' ? { sub, exp } : undefined;
  } catch {
    return undefined;
  }
}

function storedToken(): string | undefined {
  const token = localStorage.getItem(TOKEN_KEY) ?? undefined;
  const claims = readClaims(token);
  if (!claims || claims.exp * 1000 <= Date.now()) {
    localStorage.removeItem(TOKEN_KEY);
    return undefined;
  }
  return token;
}

/**
 * A client for this Broker whose token is kept in localStorage, so the console and the demo
 * (and every tab of them) share one login.
 */
export function createSessionClient(): BrokerClient {
  const token = storedToken();
  return new BrokerClient({
    url: brokerBase(),
    ...(token === undefined ? {} : { token }),
    onTokenChange: (next) => {
      if (next === undefined) {
        localStorage.removeItem(TOKEN_KEY);
        localStorage.removeItem(USERNAME_KEY);
      } else localStorage.setItem(TOKEN_KEY, next);
    },
  });
}

export function rememberUsername(username: string): void {
  localStorage.setItem(USERNAME_KEY, username);
}

export function storedUsername(): string {
  return localStorage.getItem(USERNAME_KEY) ?? '';
}
