/** One stored version of an event, as `GET /events/{name}` and cancel return it. */
export interface BrokerEvent<T = unknown> {
  readonly id: string;
  readonly user_id: string;
  readonly event: string;
  /** Release time, epoch seconds. */
  readonly timestamp: number;
  readonly published: boolean;
  readonly cancelled: boolean;
  readonly data: T;
}

/** The caller's account, as `GET /me` answers it. */
export interface Profile<I = unknown> {
  readonly id: string;
  readonly username: string;
  /** The JSON given at sign-up (or by `updateMe`); `null` when none. */
  readonly info: I;
  /** Role names, e.g. `['admin']`. */
  readonly roles: readonly string[];
}

/** A user as the admin API answers it. */
export interface UserAccount<I = unknown> extends Profile<I> {
  /** A disabled user cannot log in, and their tokens are refused. */
  readonly disabled: boolean;
  /** Epoch seconds. */
  readonly created_at: number;
}

/** What an admin may change of a user (`PATCH /admin/users/{id}`): any of these. */
export interface UserPatch {
  readonly info?: unknown;
  readonly roles?: readonly string[];
  /** A new password (ends every session of the user). */
  readonly password?: string;
  readonly disabled?: boolean;
}

/** An event received on the stream. */
export interface StreamEvent<T = unknown> {
  /** The SSE `id:`: Broker's release sequence number, as a string. */
  readonly id: string;
  readonly event: string;
  /** The event's data, parsed from JSON (the raw text if it is not JSON). */
  readonly data: T;
  /** When this client received it. */
  readonly receivedAt: Date;
}

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface ConnectionStatus {
  /**
   * `connecting`: first attempt; `open`: receiving; `reconnecting`: lost, waiting `retryInMs`
   * or trying again (or renewing its token); `closed`: by `close()`, or for good after an answer
   * that retrying cannot fix (400, 403, 404, or 401 when no fresh token could be had: see `error`).
   */
  readonly state: ConnectionState;
  /** The transport of the current or last connection. */
  readonly transport: 'eventsource' | 'fetch';
  /** Failed attempts since the connection was last open. */
  readonly attempt: number;
  /** While waiting to reconnect: milliseconds until the next attempt. */
  readonly retryInMs?: number;
  /** The id of the last event received: where a reconnection resumes. */
  readonly lastEventId?: string;
  /** Why the connection was lost, or closed for good. */
  readonly error?: Error;
}

/** The constructor of a WHATWG EventSource (the browser's, or any compatible one). */
export type EventSourceConstructor = new (url: string, init?: { withCredentials?: boolean }) => EventSource;

export interface SubscribeOptions<T = unknown> {
  /**
   * Only these event names (`?event=…`); all names when omitted. Patterns too: `orders.*` (one
   * segment), `chat.room1.>` (one or more trailing segments); a pattern needs the fetch
   * transport, since an EventSource cannot listen to names it does not know.
   */
  readonly events?: readonly string[];
  /** Called for every event, in id order: the latest of each name first, then live ones. */
  readonly onEvent: (event: StreamEvent<T>) => void;
  /** Called on every change of connection status. */
  readonly onStatus?: (status: ConnectionStatus) => void;
  /** Resume after this id instead of starting with the latest value of each name. */
  readonly lastEventId?: string | number;
  /**
   * Send the token? `true`: always (fetch transport, `Authorization` header); `false`: never;
   * `'auto'` (default): not at first, and with it from then on if Broker answers 401
   * (`STREAM_AUTH=true`) or 403 (a name only users may read) and the client holds a token.
   * A stream sent with a token ends when the token expires or is revoked; the subscription then
   * reconnects with a fresh one (refreshing it if need be) and resumes where it stopped.
   */
  readonly auth?: boolean | 'auto';
  /**
   * `'auto'` (default): the native `EventSource` when it exists, `events` are named (it cannot
   * listen to unknown names) and no header is needed; the fetch-based reader otherwise.
   */
  readonly transport?: 'auto' | 'eventsource' | 'fetch';
  /** First reconnection delay until Broker's `retry:` says otherwise (default 1000 ms). */
  readonly minDelayMs?: number;
  /** Longest reconnection delay (default 30000 ms). */
  readonly maxDelayMs?: number;
  /**
   * Fetch transport: reconnect when nothing (not even a heartbeat) arrived for this long
   * (default 45000 ms, three of Broker's default heartbeats; 0 disables).
   */
  readonly idleTimeoutMs?: number;
  /** Called when `onEvent` or `onStatus` throws (default: `console.error`). */
  readonly onError?: (error: unknown) => void;
}

export interface Subscription {
  readonly status: ConnectionStatus;
  /** The id of the last event received. */
  readonly lastEventId: string | undefined;
  /** Stops for good: no callback is called after it returns. */
  close(): void;
  /** Drops the current connection or wait and connects again now (resuming). */
  reconnect(): void;
}
