import { AppError } from '../errors/app-error.js';
import type { Revocations } from './revocations.js';
import type { TokenClaims, TokenService } from './token-service.js';

/** A caller with a valid token: its claims, and `caller` resolved from them. */
export type Principal = TokenClaims;

const invalid = (): AppError => new AppError('unauthorized', 'The token is invalid or expired.');

/** Tokens longer than this are not ours (ours are a few hundred bytes); refused before any crypto. */
const MAX_TOKEN_LENGTH = 4096;

/**
 * Resolves a token to a caller, in memory: a verified-token cache hit plus two revocation map
 * lookups (the benchmark suite's `auth` scenario measures it), never a database read per request.
 */
export class Authenticator {
  constructor(
    private readonly tokens: TokenService,
    private readonly revocations: Revocations,
  ) {}

  /**
   * The principal of a valid, unrevoked token, or a 401 (also when there is no token). A token
   * seen before is answered without a promise of its own (the common case); a new one is
   * verified (HMAC) first.
   */
  authenticate(token: string | undefined): Principal | Promise<Principal> {
    if (token === undefined || token === '') throw new AppError('unauthorized', 'A Bearer token is required.');
    if (token.length > MAX_TOKEN_LENGTH) throw invalid();
    const cached = this.tokens.cached(token);
    if (cached !== undefined) return this.admit(cached);
    return this.tokens.verify(token).then((claims) => {
      if (claims === undefined) throw invalid();
      return this.admit(claims);
    });
  }

  private admit(claims: TokenClaims): Principal {
    if (!this.revocations.allows(claims)) throw new AppError('unauthorized', 'The token has been revoked; log in again.');
    return claims;
  }
}
