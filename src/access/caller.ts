import { ADMIN_ROLE } from './roles.js';

/**
 * Who is asking, resolved once per request or stream from the token (in memory, no database
 * read). Anonymous callers have no user id and no roles.
 */
export interface Caller {
  readonly userId: string | undefined;
  readonly roles: readonly string[];
  /** Holds the admin role: may read and write every name. */
  readonly admin: boolean;
  /**
   * The kind of reader, for sharing work between streams: every caller with the same key may
   * read exactly the same names, except names bound to a user by `{user}`.
   */
  readonly readerKey: string;
}

export const ANONYMOUS: Caller = Object.freeze({ userId: undefined, roles: Object.freeze([]), admin: false, readerKey: 'anonymous' });

/** A logged-in caller. */
export function userCaller(userId: string, roles: readonly string[]): Caller {
  const admin = roles.includes(ADMIN_ROLE);
  const sorted = [...new Set(roles)].sort();
  return Object.freeze({
    userId,
    roles: Object.freeze(sorted),
    admin,
    readerKey: admin ? 'admin' : `user:${sorted.join(',')}`,
  });
}
