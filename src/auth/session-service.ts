import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { AppError } from '../errors/app-error.js';
import type { AuthChange, SessionStore, User, UserStore } from '../store/store.js';
import { MAX_PASSWORD_BYTES, type PasswordHasher } from './password-hasher.js';
import type { TokenClaims, TokenService } from './token-service.js';

/** What login and refresh answer: `jwt` as the original did, plus the refresh pair. */
export interface TokenPair {
  readonly jwt: string;
  readonly refresh_token: string;
  /** Seconds until `jwt` expires (EXPIRY). */
  readonly expires_in: number;
}

/** A refresh token: 32 random bytes, base64url (43 characters). Anything else is refused unread. */
const REFRESH_TOKEN = /^[A-Za-z0-9_-]{43}$/;

/** Refresh tokens are stored by this hash only: high-entropy secrets need no slow hash. */
export function refreshHash(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/**
 * Sessions: a login starts one, with a short-lived access token (EXPIRY) and a refresh token
 * (REFRESH_EXPIRY) that rotates on every use. Presenting a spent refresh token again ends the
 * whole session (the OAuth 2.0 practice against stolen tokens). Logout ends the session of the
 * presented token. Ending a session goes to `revoked`, which refuses its access tokens at once.
 */
export class SessionService {
  constructor(
    private readonly users: UserStore,
    private readonly sessions: SessionStore,
    private readonly hasher: PasswordHasher,
    private readonly tokens: TokenService,
    private readonly refreshExpirySeconds: number,
    private readonly revoked: (change: AuthChange) => void,
    private readonly now: () => number = () => Date.now() / 1000,
  ) {}

  async login(username: string, password: string): Promise<TokenPair> {
    // Too long for bcrypt: it cannot be anyone's password, but still spend the same time.
    const tooLong = Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES;
    const user = tooLong ? undefined : await this.users.findUserByName(username);
    const ok = await this.hasher.verify(tooLong ? '' : password, user?.passwordHash);
    if (!ok || !user) throw new AppError('invalid_credentials');
    // Said only to whoever knows the password, so it tells an attacker nothing.
    if (user.disabled) throw new AppError('user_disabled');
    return this.start(user);
  }

  /** A new session for `user` (after a login or a password change). */
  async start(user: User): Promise<TokenPair> {
    const sessionId = randomUUID();
    const refresh = newRefreshToken();
    await this.sessions.create({
      id: sessionId,
      userId: user.id,
      refreshHash: refreshHash(refresh),
      refreshExpiresAt: this.now() + this.refreshExpirySeconds,
    });
    return this.pair(user, sessionId, refresh);
  }

  async refresh(refreshToken: string): Promise<TokenPair> {
    if (!REFRESH_TOKEN.test(refreshToken)) throw new AppError('unauthorized', 'The refresh token is not valid.');
    const next = newRefreshToken();
    const result = await this.sessions.rotate(refreshHash(refreshToken), {
      hash: refreshHash(next),
      expiresAt: this.now() + this.refreshExpirySeconds,
    });
    switch (result.kind) {
      case 'refused':
        throw new AppError('unauthorized', result.reason);
      case 'reused':
        if (result.change) this.revoked(result.change);
        throw new AppError('unauthorized', 'The refresh token was already used: the session is over; log in again.');
      case 'rotated':
        return this.pair(result.user, result.sessionId, next);
    }
  }

  /** Ends the session the token belongs to. */
  async logout(claims: TokenClaims): Promise<void> {
    if (claims.sid === undefined) {
      throw new AppError('invalid_input', 'This token has no session (it was issued before sessions existed); it ends at its expiry.');
    }
    const change = await this.sessions.revoke(claims.sid, claims.sub);
    if (change) this.revoked(change);
  }

  private async pair(user: User, sessionId: string, refresh: string): Promise<TokenPair> {
    const jwt = await this.tokens.issue({ userId: user.id, sessionId, gen: user.gen, roles: user.roles });
    return { jwt, refresh_token: refresh, expires_in: this.tokens.expirySeconds };
  }
}

function newRefreshToken(): string {
  return randomBytes(32).toString('base64url');
}
