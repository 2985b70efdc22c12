import { createSecretKey, type KeyObject } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';

/**
 * HS256 JWTs as the original issued them: `sub` = user id, `company` = "", `exp` = now + EXPIRY.
 * Verification accepts HS256 only (no `none`, no algorithm confusion) and requires `sub`/`exp`.
 */
/** Verified tokens remembered (entries); the oldest is forgotten first. */
const CACHE_SIZE = 10_000;

export class TokenService {
  private readonly key: KeyObject;
  /**
   * Token text → its verified subject and expiry. Verifying costs tens of µs (base64, JSON,
   * HMAC) on every authenticated request; a token is immutable, so a hit only needs the expiry
   * checked. Keyed by the whole token: a changed byte is a miss and is verified in full.
   */
  private readonly verified = new Map<string, { readonly sub: string; readonly exp: number }>();

  constructor(
    secret: string,
    private readonly expirySeconds: number,
  ) {
    // Imported once: jose signs and verifies about twice as fast with a key object.
    this.key = createSecretKey(Buffer.from(secret, 'utf8'));
  }

  issue(userId: string): Promise<string> {
    return new SignJWT({ company: '' })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(userId)
      .setIssuedAt()
      .setExpirationTime(`${this.expirySeconds}s`)
      .sign(this.key);
  }

  /** The user id, or undefined for any token that is not ours, expired or malformed. */
  async verify(token: string): Promise<string | undefined> {
    const now = Date.now() / 1000;
    const hit = this.verified.get(token);
    if (hit) {
      if (hit.exp > now) return hit.sub;
      this.verified.delete(token);
      return undefined;
    }
    try {
      const { payload } = await jwtVerify(token, this.key, { algorithms: ['HS256'], requiredClaims: ['sub', 'exp'] });
      if (typeof payload.sub !== 'string' || payload.sub === '' || typeof payload.exp !== 'number') return undefined;
      if (this.verified.size >= CACHE_SIZE) this.verified.delete(this.verified.keys().next().value as string);
      this.verified.set(token, { sub: payload.sub, exp: payload.exp });
      return payload.sub;
    } catch {
      return undefined;
    }
  }
}
