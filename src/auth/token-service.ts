import { createSecretKey, type KeyObject } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';

/**
 * HS256 JWTs as the original issued them: `sub` = user id, `company` = "", `exp` = now + EXPIRY.
 * Verification accepts HS256 only (no `none`, no algorithm confusion) and requires `sub`/`exp`.
 */
export class TokenService {
  private readonly key: KeyObject;

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
    try {
      const { payload } = await jwtVerify(token, this.key, { algorithms: ['HS256'], requiredClaims: ['sub', 'exp'] });
      return typeof payload.sub === 'string' && payload.sub !== '' ? payload.sub : undefined;
    } catch {
      return undefined;
    }
  }
}
