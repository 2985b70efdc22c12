import { type Caller, userCaller } from '../access/caller.js';
import { AppError } from '../errors/app-error.js';
import type { Revocations } from './revocations.js';
import type { TokenClaims, TokenService } from './token-service.js';

/** A caller with a valid token. */
export interface Principal {
  readonly caller: Caller;
  readonly claims: TokenClaims;
}

/** Tokens longer than this are not ours (ours are a few hundred bytes); refused before any crypto. */
const MAX_TOKEN_LENGTH = 4096;

/**
 * Resolves a token to a caller, in memory: a verified-token cache hit plus two revocation map
 * lookups (`npm run bench:auth` measures it), never a database read per request.
 */
export class Authenticator {
  constructor(
    private readonly tokens: TokenService,
    private readonly revocations: Revocations,
  ) {}

  /** The principal of a valid, unrevoked token, or a 401 (also when there is no token). */
  async authenticate(token: string | undefined): Promise<Principal> {
    if (token === undefined || token === '') throw new AppError('unauthorized', 'A Bearer token is required.');
    const claims = token.length <= MAX_TOKEN_LENGTH ? await this.tokens.verify(token) : undefined;
    if (claims === undefined) throw new AppError('unauthorized', 'The token is invalid or expired.');
    if (!this.revocations.allows(claims)) throw new AppError('unauthorized', 'The token has been revoked; log in again.');
    return { caller: userCaller(claims.sub, claims.roles), claims };
  }
}
