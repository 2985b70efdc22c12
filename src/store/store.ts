/**
 * The storage port: everything Broker keeps durably. Backends (SQLite, PostgreSQL) implement
 * it and must pass the shared contract suite in ./contract/. Data is kept as compact JSON text:
 * Broker never looks inside it, and the text is what the stream sends.
 */

/** Position in the gapless release sequence; the SSE `id:`. 0 = before the first release. */
export type Seq = number;

export interface NewUser {
  readonly id: string;
  readonly username: string;
  readonly passwordHash: string;
  /** Compact JSON text of the `info` given at sign-up. */
  readonly info: string;
  /** Role names (validated by the caller); empty by default. */
  readonly roles?: readonly string[];
}

export interface User extends NewUser {
  readonly roles: readonly string[];
  readonly disabled: boolean;
  /**
   * Token generation: bumped by every change that must end the user's access tokens (roles,
   * password, disabling, deletion). A token carries the generation it was issued at; one older
   * than the user's is refused.
   */
  readonly gen: number;
  /** Epoch seconds. */
  readonly createdAt: number;
}

/** What PATCH /admin/users (and the CLI) may change; absent = unchanged. */
export interface UserChange {
  readonly info?: string;
  readonly roles?: readonly string[];
  readonly passwordHash?: string;
  readonly disabled?: boolean;
}

/**
 * One entry of the auth change log, which every node tails to refuse revoked tokens within a
 * second: tokens of `userId` older than generation `gen` are refused; or the session
 * `sessionId` is over.
 */
export interface AuthChange {
  /** Position in the log (increasing). */
  readonly id: number;
  /** Epoch seconds. */
  readonly at: number;
  readonly userId: string;
  readonly gen?: number;
  readonly sessionId?: string;
}

export type UserUpdate =
  | { readonly kind: 'updated'; readonly user: User; readonly change: AuthChange | undefined }
  | { readonly kind: 'not_found' }
  /** The change would leave no enabled admin. */
  | { readonly kind: 'last_admin' };

export type UserDeletion =
  | { readonly kind: 'deleted'; readonly change: AuthChange }
  | { readonly kind: 'not_found' }
  | { readonly kind: 'last_admin' };

export interface UserQuery {
  /** Part of the username, any letter case. */
  readonly search?: string;
  /** Id of the last user of the previous page; the page starts after it (username order). */
  readonly after?: string;
  readonly limit: number;
}

export interface NewEvent {
  readonly id: string;
  readonly userId: string;
  readonly event: string;
  /** Epoch seconds (may be fractional) at which the event is released. */
  readonly timestamp: number;
  /** Compact JSON text. */
  readonly data: string;
}

/**
 * An idempotency key, stored in the commit of the insert it belongs to: a retry with the same
 * key finds it (and the answer it got) instead of storing the events again.
 */
export interface IdempotencyKey {
  readonly userId: string;
  readonly key: string;
  /** Hash of the request body: the same key with another body is a conflict, not a retry. */
  readonly hash: string;
  /** The answer's JSON text, sent again to every retry. */
  readonly response: string;
  /** Epoch seconds; an expired key is as good as absent. */
  readonly expiresAt: number;
}

/** One insert request: its events, stored together or not at all, and its key, if any. */
export interface AppendBatch {
  readonly events: readonly NewEvent[];
  readonly key?: IdempotencyKey;
}

export type AppendOutcome =
  | { readonly kind: 'stored'; readonly events: readonly StoredEvent[] }
  /** The key was there already (committed, unexpired): nothing was stored. */
  | { readonly kind: 'duplicate'; readonly hash: string; readonly response: string };

export interface StoredEvent extends NewEvent {
  readonly published: boolean;
  readonly cancelled: boolean;
  /** Release sequence, once released. */
  readonly seq: Seq | undefined;
}

export interface ReleasedEvent {
  readonly seq: Seq;
  readonly id: string;
  readonly event: string;
  readonly timestamp: number;
  readonly data: string;
  /** Epoch seconds at which it was inserted, to tell lateness from backdating. */
  readonly insertedAt: number;
  /** Epoch seconds at which it was released. */
  readonly releasedAt: number;
}

export interface HistoryPage {
  /** Id of the last event of the previous page; the page starts after it. */
  readonly after?: string;
  readonly limit: number;
}

export type CancelResult =
  | { readonly kind: 'cancelled'; readonly event: StoredEvent }
  | { readonly kind: 'not_found' }
  | { readonly kind: 'forbidden' }
  | { readonly kind: 'already_released' }
  | { readonly kind: 'already_cancelled' };

export interface UserStore {
  /** Creates the user, or returns 'taken' when the username exists in any letter case. */
  createUser(user: NewUser): Promise<'created' | 'taken'>;
  /** Case-insensitive lookup. */
  findUserByName(username: string): Promise<User | undefined>;
  findUserById(id: string): Promise<User | undefined>;
  /** One page of users in username order (case-folded); `undefined` if `after` is unknown. */
  listUsers(query: UserQuery): Promise<readonly User[] | undefined>;
  /**
   * Applies the change in one transaction. Roles, password or disabled changed → the generation
   * goes up and an auth change is logged; password changed or disabled → every session of the
   * user ends too. Refused (`last_admin`) when it would leave no enabled admin.
   */
  updateUser(id: string, change: UserChange): Promise<UserUpdate>;
  /** Deletes the user and their sessions (their events stay), logging an auth change. */
  deleteUser(id: string): Promise<UserDeletion>;
}

export interface NewSession {
  readonly id: string;
  readonly userId: string;
  /** SHA-256 of the first refresh token (base64url); the token itself is never stored. */
  readonly refreshHash: string;
  /** Epoch seconds at which that refresh token expires. */
  readonly refreshExpiresAt: number;
}

export type Rotation =
  | { readonly kind: 'rotated'; readonly sessionId: string; readonly user: User }
  /** No such token, an expired one, or one of an ended session or a disabled user. */
  | { readonly kind: 'refused'; readonly reason: string }
  /** A spent token presented again: its whole session is now over (`change`, if it was not yet). */
  | { readonly kind: 'reused'; readonly change: AuthChange | undefined };

/** Login sessions, their rotating refresh tokens, and the auth change log. */
export interface SessionStore {
  create(session: NewSession): Promise<void>;
  /**
   * Spends the refresh token with hash `presented` and stores its successor, atomically: of two
   * concurrent uses of one token, one rotates and the other is a reuse.
   */
  rotate(presented: string, next: { readonly hash: string; readonly expiresAt: number }): Promise<Rotation>;
  /** Ends a session (logout); the auth change, or undefined if it was already over or unknown. */
  revoke(sessionId: string, userId: string): Promise<AuthChange | undefined>;
  /**
   * Auth changes after log position `after`, in order; with `since` (epoch s) only those made
   * since then (what a starting node must know).
   */
  readChanges(query: { readonly after: number; readonly since?: number; readonly limit: number }): Promise<readonly AuthChange[]>;
  /** Removes expired refresh tokens, sessions left with none, and log entries older than `before`. */
  prune(before: number): Promise<void>;
}

export interface EventStore {
  /**
   * Durably stores a new version. Resolves only once committed. When the commit finds events
   * due (this one, backdated or "now", or any other), the same transaction releases them, as
   * releaseDue would, and hands them to the sink set with onAppendRelease: a due insert costs
   * one commit, not two.
   */
  append(event: NewEvent): Promise<StoredEvent>;
  /**
   * Stores a request's events in one commit (all or nothing; concurrent requests may share it),
   * with its idempotency key. Releases what is due as append does.
   */
  appendBatch(batch: AppendBatch): Promise<AppendOutcome>;
  /** Removes expired idempotency keys (housekeeping). */
  pruneIdempotencyKeys(now: number): Promise<void>;
  /** Where releases made by append() are reported (after their commit), in seq order. */
  onAppendRelease(sink: (released: readonly ReleasedEvent[]) => void): void;
  /**
   * Settles once the appends under way now have answered, their releases handed to the
   * onAppendRelease sink; undefined when none is under way. The hub waits for it before reading
   * back a release it heard of: on PostgreSQL the NOTIFY of this node's own commit can arrive
   * before the commit's answer, and the answer brings the events without a read.
   */
  appendsSettled(): Promise<void> | undefined;
  /**
   * Atomically releases up to `limit` unreleased, uncancelled events with timestamp <= now,
   * oldest timestamp first (ties in insertion order), giving each the next release seq.
   * The sequence stays gapless and commit order equals seq order.
   */
  releaseDue(now: number, limit: number): Promise<readonly ReleasedEvent[]>;
  /** Released events with seq > after, ascending seq, optionally only those names. */
  readReleased(query: {
    readonly after: Seq;
    readonly names?: readonly string[];
    readonly limit: number;
  }): Promise<readonly ReleasedEvent[]>;
  /**
   * One page of the snapshot as of `upTo`: for each name, its latest released version (newest
   * timestamp, ties by seq) if that version's seq is in (after, upTo]; ascending seq.
   */
  readLatest(query: {
    readonly after: Seq;
    readonly upTo: Seq;
    readonly names?: readonly string[];
    readonly limit: number;
  }): Promise<readonly ReleasedEvent[]>;
  /** Highest seq released so far (0 if none). */
  lastSeq(): Promise<Seq>;
  /** All versions of a name: ascending timestamp, ties in insertion order. `undefined` if `after` is unknown. */
  history(name: string, page: HistoryPage): Promise<readonly StoredEvent[] | undefined>;
  /** Cancels an unreleased event: the author's own, or any when `asAdmin`. */
  cancel(id: string, userId: string, asAdmin?: boolean): Promise<CancelResult>;
  /** A user's pending (unreleased, uncancelled) events, ascending timestamp, paged by id. */
  pending(userId: string, page: HistoryPage): Promise<readonly StoredEvent[] | undefined>;
  /** Timestamp of the earliest pending (unreleased, uncancelled) event. */
  nextDueAt(): Promise<number | undefined>;
}

/** What a name keeps (retention): the newest `versions`, and what settled at or after `before`. */
export interface KeepLimits {
  readonly versions?: number;
  /** Epoch seconds: settled versions before it go. */
  readonly before?: number;
}

/**
 * Retention: removing old versions. Never a pending version, never a name's latest (so a
 * snapshot still gives every name's current value), never the event with the highest seq (the
 * embedded store's release position).
 */
export interface RetentionStore {
  /**
   * Removes up to `limit` versions of `name` that its limits no longer keep: released ones past
   * the newest `versions` (release order) or released before `before`, and cancelled ones past
   * the newest `versions` cancelled or cancelled before `before`. `more`: there may be others.
   */
  pruneName(name: string, keep: KeepLimits, limit: number): Promise<{ readonly deleted: number; readonly more: boolean }>;
  /** Names with a released version, in order, after `after` (a sweep of every name). */
  names(after: string, limit: number): Promise<readonly string[]>;
  /** Released versions after `afterSeq` in seq order (roughly release-time order), for the age scan. */
  releasedAfter(afterSeq: Seq, limit: number): Promise<readonly { readonly seq: Seq; readonly event: string; readonly releasedAt: number }[]>;
}

export interface StorageStats {
  /** Bytes the database takes (SQLite: the file and its WAL; PostgreSQL: the database). */
  readonly bytes: number;
  readonly pending: number;
  readonly released: number;
  readonly cancelled: number;
  /** Due time (epoch s) of the oldest pending version. */
  readonly oldestPendingDue: number | undefined;
}

export interface Store {
  readonly users: UserStore;
  readonly retention: RetentionStore;
  readonly sessions: SessionStore;
  readonly events: EventStore;
  /** Resolves when the store answers a trivial query; for /health. */
  ping(): Promise<void>;
  /** True since a write failed for lack of space, until a write succeeds again. */
  storageFull(): boolean;
  /** Size and contents, for /metrics (counts cost a pass over an index: cache them). */
  stats(): Promise<StorageStats>;
  /** Finishes pending writes, then closes. */
  close(): Promise<void>;
}
