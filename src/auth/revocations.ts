import type { AuthChange } from '../store/store.js';
import type { TokenClaims } from './token-service.js';

/**
 * What this node knows of revoked access tokens, in memory, so that checking a token costs two
 * map lookups and no database read: per user, the lowest token generation still valid (a
 * password change, disabling, deletion or a roles change raise it); and the ended sessions.
 *
 * Bounded by token lifetime: an entry made at time T only concerns tokens issued before T, and
 * those have all expired by T + EXPIRY (TokenService refuses tokens that live longer), so it is
 * forgotten after T + EXPIRY + a margin for clock differences between nodes.
 */
export class Revocations {
  private readonly minGen = new Map<string, { gen: number; at: number }>();
  private readonly endedSessions = new Map<string, number>();

  constructor(
    /** How long an entry is kept (s): the token lifetime plus the margin. */
    readonly windowSeconds: number,
    private readonly now: () => number = () => Date.now() / 1000,
  ) {}

  /** Applies a change of the auth log (idempotent: a change may arrive twice). */
  apply(change: AuthChange): void {
    if (change.gen !== undefined) {
      const seen = this.minGen.get(change.userId);
      if (!seen || change.gen > seen.gen) {
        // Re-inserted, so that the map stays in (roughly) time order for sweep().
        this.minGen.delete(change.userId);
        this.minGen.set(change.userId, { gen: change.gen, at: change.at });
      }
    }
    if (change.sessionId !== undefined && !this.endedSessions.has(change.sessionId)) {
      this.endedSessions.set(change.sessionId, change.at);
    }
  }

  /** False when the token was revoked: an older generation than its user's, or an ended session. */
  allows(claims: TokenClaims): boolean {
    const min = this.minGen.get(claims.sub);
    if (min !== undefined && claims.gen < min.gen) return false;
    return claims.sid === undefined || !this.endedSessions.has(claims.sid);
  }

  /** Forgets entries that no unexpired token can concern any more. */
  sweep(): void {
    const before = this.now() - this.windowSeconds;
    for (const [key, entry] of this.minGen) {
      if (entry.at >= before) break;
      this.minGen.delete(key);
    }
    for (const [key, at] of this.endedSessions) {
      if (at >= before) break;
      this.endedSessions.delete(key);
    }
  }

  get size(): number {
    return this.minGen.size + this.endedSessions.size;
  }
}
