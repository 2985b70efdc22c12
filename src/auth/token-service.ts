import { createSecretKey, type KeyObject } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import { type Caller, userCaller } from '../access/caller.js';

/** What a valid access token says. */
export interface TokenClaims {
  /** The user id. */
  readonly sub: string;
  /** Epoch seconds. */
  readonly exp: number;
  /** The session the token belongs to (absent in tokens issued before sessions existed). */
  readonly sid: string | undefined;
  /** The user's token generation when it was issued (0 if absent). */
  readonly gen: number;
  readonly roles: readonly string[];
  /** Who the token speaks for, resolved once per token. */
  readonly caller: Caller;
}

export interface TokenSubject {
  readonly userId: string;
  readonly sessionId: string;
  readonly gen: number;
  readonly roles: readonly string[];
}

/** Verified tokens remembered (entries); the oldest is forgotten first. */
const CACHE_SIZE = 10_000;
/** Seconds a token's lifetime may exceed EXPIRY (clock rounding of `iat`). */
const LIFETIME_SLACK_S = 1;

/**
 * HS256 JWTs as the original issued them — `sub` = user id, `company` = "", `exp` = now + EXPIRY —
 * plus ours: `iat`, `sid` (the session), `gen` (the user's token generation) and `roles`.
 * Verification accepts HS256 only (no `none`, no algorithm confusion) and requires `sub`/`exp`.
 * A token that lives longer than EXPIRY is refused: revocations are kept for EXPIRY seconds, so a
 * longer-lived token (issued under a larger EXPIRY) could outlive the memory of its revocation.
 */
export class TokenService {
  private readonly key: KeyObject;
  /**
   * Token text → its verified claims. Verifying costs tens of µs (base64, JSON, HMAC) on every
   * authenticated request; a token is immutable, so a hit only needs the expiry checked. Keyed
   * by the whole token: a changed byte is a miss and is verified in full.
   */
  private readonly verified = new Map<string, TokenClaims>();

  constructor(
    secret: string,
    readonly expirySeconds: number,
  ) {
    // Imported once: jose signs and verifies about twice as fast with a key object.
    this.key = createSecretKey(Buffer.from(secret, 'utf8'));
  }

  issue(subject: TokenSubject): Promise<string> {
    return new SignJWT({ company: '', sid: subject.sessionId, gen: subject.gen, roles: [...subject.roles] })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(subject.userId)
      .setIssuedAt()
      .setExpirationTime(`${this.expirySeconds}s`)
      .sign(this.key);
  }

  /**
   * The claims of a token verified before and not expired yet, without a promise (the per-request
   * fast path); undefined when it must be verified (or has expired).
   */
  cached(token: string): TokenClaims | undefined {
    const hit = this.verified.get(token);
    if (hit === undefined) return undefined;
    if (hit.exp > Date.now() / 1000) return hit;
    this.verified.delete(token);
    return undefined;
  }

  /** The claims, or undefined for any token that is not ours, expired, too long-lived or malformed. */
  async verify(token: string): Promise<TokenClaims | undefined> {
    const now = Date.now() / 1000;
    if (this.verified.has(token)) return this.cached(token);
    try {
      const { payload } = await jwtVerify(token, this.key, { algorithms: ['HS256'], requiredClaims: ['sub', 'exp'] });
      const { sub, exp, iat, sid, gen, roles } = payload as Record<string, unknown>;
      if (typeof sub !== 'string' || sub === '' || typeof exp !== 'number') return undefined;
      if (exp - (typeof iat === 'number' ? iat : now) > this.expirySeconds + LIFETIME_SLACK_S) return undefined;
      if (sid !== undefined && typeof sid !== 'string') return undefined;
      if (gen !== undefined && !(Number.isSafeInteger(gen) && (gen as number) >= 0)) return undefined;
      if (roles !== undefined && !(Array.isArray(roles) && roles.every((r) => typeof r === 'string'))) return undefined;
      const roleList = Object.freeze([...((roles as string[] | undefined) ?? [])]);
      const claims: TokenClaims = Object.freeze({
        sub,
        exp,
        sid,
        gen: (gen as number | undefined) ?? 0,
        roles: roleList,
        caller: userCaller(sub, roleList),
      });
      if (this.verified.size >= CACHE_SIZE) this.verified.delete(this.verified.keys().next().value as string);
      this.verified.set(token, claims);
      return claims;
    } catch {
      return undefined;
    }
  }
}
