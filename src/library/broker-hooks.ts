import { userCaller } from '../access/caller.js';
import { ADMIN_ROLE } from '../access/roles.js';
import type { BrokerCore } from '../broker-core.js';
import type { ReleasedEvent, Seq } from '../store/store.js';

/** The user id of events published by the host program rather than by a user. */
export const SYSTEM_USER_ID = '00000000-0000-0000-0000-000000000000';

export interface PublishInput {
  readonly event: string;
  readonly data: unknown;
  /** Epoch seconds (or a Date); omitted = now. */
  readonly timestamp?: number | Date;
  /** Attribute the event to this user id; omitted = the system user (SYSTEM_USER_ID). */
  readonly userId?: string;
}

export interface ReleasedEventView {
  /** Release sequence number (the SSE id). */
  readonly seq: Seq;
  readonly id: string;
  readonly event: string;
  readonly timestamp: number;
  readonly data: unknown;
}

export interface ReleasedOptions {
  /** Start after this seq (resume); omitted = only events released from now on. */
  readonly after?: Seq;
  /** Only these event names. */
  readonly names?: readonly string[];
  /** Ends the iteration. */
  readonly signal?: AbortSignal;
}

/** What a host program can do with an embedded Broker, without patching it. */
export interface BrokerHooks {
  /**
   * Inserts an event with the same validation and release rules as POST /insert; given an
   * array, inserts them all or none in one commit and resolves with their ids in order.
   */
  publish(input: PublishInput): Promise<{ readonly id: string }>;
  publish(inputs: readonly PublishInput[]): Promise<readonly { readonly id: string }[]>;
  /** Calls `listener` for each event released (in seq order). Returns the unsubscribe function. */
  onReleased(listener: (event: ReleasedEventView) => void): () => void;
  /** Released events as an async iterator, read from the store: none is skipped, however slow the loop. */
  released(options?: ReleasedOptions): AsyncIterableIterator<ReleasedEventView>;
}

const view = (e: ReleasedEvent): ReleasedEventView => ({
  seq: e.seq,
  id: e.id,
  event: e.event,
  timestamp: e.timestamp,
  data: JSON.parse(e.data) as unknown,
});

/** Hooks over a core; `closed` ends every iterator when the Broker closes. */
export function brokerHooks(core: BrokerCore, closed: AbortSignal): BrokerHooks {
  const hub = core.deps.hub;
  return {
    publish: (async (input: PublishInput | readonly PublishInput[]) => {
      const list = Array.isArray(input) ? input : [input as PublishInput];
      const single = !Array.isArray(input);
      // The host program is trusted like an admin: the access rules do not bind it. A batch is
      // attributed event by event (userId), each checked; the store keeps each event's author.
      const inputs = list.map((i) => ({
        event: i.event,
        data: i.data,
        timestamp: i.timestamp instanceof Date ? i.timestamp.getTime() / 1000 : i.timestamp,
      }));
      const authors = new Set(list.map((i) => i.userId ?? SYSTEM_USER_ID));
      if (authors.size > 1) throw new TypeError('publish: the events of one batch must have one author (userId)');
      const author = [...authors][0] as string;
      const result = await core.deps.events.insertMany(userCaller(author, [ADMIN_ROLE]), inputs, { single });
      const ids = result.events.map((e) => ({ id: e.id }));
      return single ? ids[0] : ids;
    }) as BrokerHooks['publish'],
    onReleased(listener) {
      return hub.observe((events) => {
        for (const e of events) listener(view(e));
      });
    },
    released(options = {}) {
      // The position is taken now, not at the first next(): "from now on" means from this call.
      return releasedIterator(core, closed, options, options.after ?? hub.position);
    },
  };
}

/** Page size of the iterator's store reads (rows). */
const PAGE = 500;

async function* releasedIterator(
  core: BrokerCore,
  closed: AbortSignal,
  options: ReleasedOptions,
  start: Seq,
): AsyncIterableIterator<ReleasedEventView> {
  const hub = core.deps.hub;
  let cursor = start;
  // A counter, not a flag: a release between our read and our wait must not be slept through.
  let generation = 0;
  let wake: (() => void) | undefined;
  const off = hub.observe(() => {
    generation += 1;
    wake?.();
  });
  const stop = (): void => wake?.();
  closed.addEventListener('abort', stop);
  options.signal?.addEventListener('abort', stop);
  const done = (): boolean => closed.aborted || options.signal?.aborted === true;
  try {
    while (!done()) {
      const seen = generation;
      const page = await core.store.events.readReleased({ after: cursor, names: options.names, limit: PAGE });
      for (const e of page) {
        cursor = e.seq;
        yield view(e);
        if (done()) return;
      }
      if (page.length === PAGE || generation !== seen) continue;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
  } finally {
    off();
    closed.removeEventListener('abort', stop);
    options.signal?.removeEventListener('abort', stop);
  }
}
