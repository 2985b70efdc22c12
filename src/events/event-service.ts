import type { AccessPolicy } from '../access/access-policy.js';
import type { Caller } from '../access/caller.js';
import { AppError } from '../errors/app-error.js';
import { compactJson } from '../lib/compact-json.js';
import { KeyedQueue } from '../lib/keyed-queue.js';
import type { EventStore, NewEvent, StoredEvent } from '../store/store.js';
import { eventNameProblem } from './event-name.js';
import { newEventId } from './new-event-id.js';

/** Latest accepted timestamp: 9999-12-31T23:59:59Z, in epoch seconds. */
export const MAX_TIMESTAMP = 253_402_300_799;
export const HISTORY_DEFAULT_LIMIT = 1000;
export const HISTORY_MAX_LIMIT = 1000;

export interface InsertInput {
  readonly event: string;
  /** Epoch seconds; undefined = now. */
  readonly timestamp?: number;
  readonly data: unknown;
}

export interface InsertLimits {
  /** Most events in one batch (INSERT_BATCH_MAX). */
  readonly batchMax: number;
  /** Seconds an idempotency key is kept (IDEMPOTENCY_TTL). */
  readonly idempotencyTtl: number;
}

export interface InsertOptions {
  /** One event (answered `{"id"}`) rather than a batch (answered `[{"id"}, …]`). */
  readonly single: boolean;
  /** The Idempotency-Key and the hash of the request body. */
  readonly idempotency?: { readonly key: string; readonly hash: string };
}

export interface InsertResult {
  /** The answer's JSON text: `{"id"}` or `[{"id"}, …]` (for a replay, the first one's). */
  readonly response: string;
  /** What this call stored (none for a replay). */
  readonly events: readonly StoredEvent[];
  /** The answer is a retry's: the request had been stored already. */
  readonly replayed: boolean;
}

/** What the scheduler needs to hear from the service. */
export interface ReleaseWaker {
  wake(dueAt: number): void;
  rearm(): void;
}

/**
 * The rules of events, whoever calls (HTTP or a host program): validation, insert, cancel,
 * history. Data is serialised once here to compact JSON and never parsed again until shown.
 */
export class EventService {
  private readonly inFlight = new KeyedQueue();

  constructor(
    private readonly store: EventStore,
    private readonly access: AccessPolicy,
    private readonly scheduler: ReleaseWaker,
    private readonly limits: InsertLimits,
    /** Called with the number of events each insert stored. */
    private readonly onInsert: (count: number) => void = () => {},
    private readonly now: () => number = () => Date.now() / 1000,
  ) {}

  /** Stores a new version as `caller` (who must have a user id and may write the name). */
  async insert(caller: Caller, input: InsertInput): Promise<StoredEvent> {
    const { events } = await this.insertMany(caller, [input], { single: true });
    return events[0] as StoredEvent;
  }

  /**
   * Stores a request's events — one, or a batch — all or nothing in one commit, as `caller`.
   * Every item is checked first (an error names its index in a batch); nothing is stored unless
   * all pass. With an idempotency key, a retry of a request already stored (by this node or
   * another) stores nothing and gets the first answer; the same key with another body is a 422.
   */
  async insertMany(caller: Caller, inputs: readonly InsertInput[], options: InsertOptions): Promise<InsertResult> {
    const userId = caller.userId;
    if (userId === undefined) throw new AppError('unauthorized', 'A Bearer token is required.');
    if (inputs.length === 0) throw new AppError('invalid_input', 'the batch is empty: send at least one event');
    if (inputs.length > this.limits.batchMax) {
      throw new AppError('invalid_input', `a batch holds at most ${this.limits.batchMax} events (INSERT_BATCH_MAX); this one has ${inputs.length}`);
    }
    const now = this.now();
    const events = inputs.map((input, i): NewEvent => {
      const at = options.single ? '' : `item ${i}: `;
      const problem = eventNameProblem(input.event);
      if (problem) throw new AppError('invalid_input', `${at}event ${problem}`);
      if (!this.access.may(caller, 'write', input.event)) throw new AppError('forbidden', `${at}you may not write "${input.event}".`);
      const timestamp = input.timestamp ?? now;
      if (!Number.isFinite(timestamp) || timestamp < 0 || timestamp > MAX_TIMESTAMP) {
        throw new AppError('invalid_input', `${at}timestamp must be epoch seconds between 0 and ${MAX_TIMESTAMP}`);
      }
      if (input.data === undefined) throw new AppError('invalid_input', `${at}data is required (any JSON value)`);
      return { id: newEventId(), userId, event: input.event, timestamp, data: compactJson(input.data, `${at}data`) };
    });
    const answer = options.single ? { id: (events[0] as NewEvent).id } : events.map((e) => ({ id: e.id }));
    const response = JSON.stringify(answer);
    const idem = options.idempotency;
    const store = async (): Promise<InsertResult> => {
      const outcome = await this.store.appendBatch({
        events,
        ...(idem ? { key: { userId, key: idem.key, hash: idem.hash, response, expiresAt: now + this.limits.idempotencyTtl } } : {}),
      });
      if (outcome.kind === 'duplicate') {
        if (outcome.hash !== idem?.hash) throw new AppError('idempotency_conflict');
        return { response: outcome.response, events: [], replayed: true };
      }
      this.onInsert(outcome.events.length);
      // Due events were released by the commit itself; a future one needs the timer.
      let earliest = Number.POSITIVE_INFINITY;
      for (const e of outcome.events) if (!e.published) earliest = Math.min(earliest, e.timestamp);
      if (Number.isFinite(earliest)) this.scheduler.wake(earliest);
      return { response, events: outcome.events, replayed: false };
    };
    // A retry while the first is still in flight on this node waits for it (then finds its key).
    return idem ? this.inFlight.run(`${userId}\u0000${idem.key}`, store) : store();
  }

  /** Cancels a pending event: its author's, or any for an admin. */
  async cancel(caller: Caller, eventId: string): Promise<StoredEvent> {
    if (caller.userId === undefined) throw new AppError('unauthorized', 'A Bearer token is required.');
    const result = await this.store.cancel(eventId, caller.userId, caller.admin);
    switch (result.kind) {
      case 'cancelled':
        this.scheduler.rearm();
        return result.event;
      case 'not_found':
        throw new AppError('not_found', 'No event has that id.');
      case 'forbidden':
        throw new AppError('forbidden', 'Only the author of an event (or an admin) can cancel it.');
      case 'already_released':
        throw new AppError('already_released');
      case 'already_cancelled':
        throw new AppError('already_cancelled');
    }
  }

  async history(caller: Caller, name: string, page: PageRequest): Promise<Page> {
    const problem = eventNameProblem(name);
    if (problem) throw new AppError('invalid_input', `event ${problem}`);
    if (!this.access.may(caller, 'read', name)) throw new AppError('forbidden', `You may not read "${name}".`);
    const limit = pageLimit(page);
    const events = await this.store.history(name, { after: page.after, limit });
    if (events === undefined) throw new AppError('invalid_input', 'after must be the id of an event of this name');
    return { events, next: events.length === limit ? events[events.length - 1]?.id : undefined };
  }

  /** One page of the user's pending (unreleased, uncancelled) events, by timestamp. */
  async pending(userId: string, page: PageRequest): Promise<Page> {
    const limit = pageLimit(page);
    const events = await this.store.pending(userId, { after: page.after, limit });
    if (events === undefined) throw new AppError('invalid_input', 'after must be the id of one of your pending events');
    return { events, next: events.length === limit ? events[events.length - 1]?.id : undefined };
  }
}

export interface PageRequest {
  readonly after?: string;
  readonly limit?: number;
}

/** One page of versions; `next` is the `after` of the following page, if there may be one. */
export interface Page {
  readonly events: readonly StoredEvent[];
  readonly next: string | undefined;
}

function pageLimit(page: PageRequest): number {
  const limit = page.limit ?? HISTORY_DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > HISTORY_MAX_LIMIT) {
    throw new AppError('invalid_input', `limit must be a whole number from 1 to ${HISTORY_MAX_LIMIT}`);
  }
  return limit;
}
