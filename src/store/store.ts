/**
 * The storage port: everything Broker keeps durably. Backends (SQLite, PostgreSQL) implement
 * it and must pass the shared contract suite in ./contract/. Data is kept as compact JSON text:
 * Broker never looks inside it, and the text is what the stream sends.
 */

/** Position in the gapless release sequence; the SSE `id:`. 0 = before the first release. */
export type Seq = number;

export interface User {
  readonly id: string;
  readonly username: string;
  readonly passwordHash: string;
  /** Compact JSON text of the `info` given at sign-up. */
  readonly info: string;
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
  createUser(user: User): Promise<'created' | 'taken'>;
  /** Case-insensitive lookup. */
  findUserByName(username: string): Promise<User | undefined>;
}

export interface EventStore {
  /**
   * Durably stores a new version. Resolves only once committed. When the commit finds events
   * due (this one, backdated or "now", or any other), the same transaction releases them, as
   * releaseDue would, and hands them to the sink set with onAppendRelease: a due insert costs
   * one commit, not two.
   */
  append(event: NewEvent): Promise<StoredEvent>;
  /** Where releases made by append() are reported (after their commit), in seq order. */
  onAppendRelease(sink: (released: readonly ReleasedEvent[]) => void): void;
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
  /** Cancels the author's own unreleased event. */
  cancel(id: string, userId: string): Promise<CancelResult>;
  /** Timestamp of the earliest pending (unreleased, uncancelled) event. */
  nextDueAt(): Promise<number | undefined>;
}

export interface Store {
  readonly users: UserStore;
  readonly events: EventStore;
  /** Resolves when the store answers a trivial query; for /health. */
  ping(): Promise<void>;
  /** Finishes pending writes, then closes. */
  close(): Promise<void>;
}
