import { BrokerError } from './errors.js';

/**
 * What the client holds of a login. Persist it (`onSessionChange`) and pass it back
 * (`session` option, `setSession`) to survive a reload; it is a secret: whoever holds the
 * refresh token holds the session until it ends.
 */
export interface Session {
  /** The access token (JWT) sent as `Authorization: Bearer`. */
  readonly token: string;
  /**
   * Exchanged (`refresh()`) for a new pair; each use spends it (Broker answers a new one, and a
   * second use of a spent one ends the whole session). Absent after `setToken`, or from a server
   * that issues none (the original Broker).
   */
  readonly refreshToken?: string;
  /**
   * When the access token stops working, epoch milliseconds by this client's clock (from
   * `expires_in`, so the two clocks need not agree). Absent when unknown.
   */
  readonly expiresAt?: number;
}

/**
 * Milliseconds taken off `expires_in`: Broker's `exp` is `iat + EXPIRY` with `iat` in whole
 * seconds (rounded down), so a token may stop working up to a second before `expires_in` says.
 */
const WHOLE_SECOND_MS = 1000;

/** The session of a `{jwt, refresh_token?, expires_in?}` answer (login, refresh, password change). */
export function sessionFromPair(body: unknown, receivedAt: number = Date.now()): Session {
  if (typeof body !== 'object' || body === null) throw badPair('not an object');
  const { jwt, refresh_token: refreshToken, expires_in: expiresIn } = body as Record<string, unknown>;
  if (typeof jwt !== 'string' || jwt === '') throw badPair('no jwt');
  if (refreshToken !== undefined && typeof refreshToken !== 'string') throw badPair('refresh_token is not a string');
  if (expiresIn !== undefined && !(typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0)) {
    throw badPair('expires_in is not a positive number');
  }
  return {
    token: jwt,
    ...(refreshToken ? { refreshToken } : {}),
    ...(expiresIn === undefined ? {} : { expiresAt: receivedAt + Math.max(0, expiresIn * 1000 - WHOLE_SECOND_MS) }),
  };
}

/** A stored session (e.g. read back from localStorage), or undefined when it is not one. */
export function readSession(value: unknown): Session | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { token, refreshToken, expiresAt } = value as Record<string, unknown>;
  if (typeof token !== 'string' || token === '') return undefined;
  if (refreshToken !== undefined && typeof refreshToken !== 'string') return undefined;
  if (expiresAt !== undefined && !(typeof expiresAt === 'number' && Number.isFinite(expiresAt))) return undefined;
  return {
    token,
    ...(refreshToken ? { refreshToken } : {}),
    ...(expiresAt === undefined ? {} : { expiresAt }),
  };
}

export function sameSession(a: Session | undefined, b: Session | undefined): boolean {
  if (a === b) return true;
  return a !== undefined && b !== undefined && a.token === b.token && a.refreshToken === b.refreshToken && a.expiresAt === b.expiresAt;
}

function badPair(detail: string): BrokerError {
  return new BrokerError(`the token answer is not valid: ${detail}`, { status: 200, code: 'bad_response' });
}
