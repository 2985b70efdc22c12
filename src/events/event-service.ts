import type { AccessPolicy } from '../access/access-policy.js';
import type { Caller } from '../access/caller.js';
import { AppError } from '../errors/app-error.js';
import { compactJson } from '../lib/compact-json.js';
import type { EventStore, StoredEvent } from '../store/store.js';
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
  constructor(
    private readonly store: EventStore,
    private readonly access: AccessPolicy,
    private readonly scheduler: ReleaseWaker,
    private readonly onInsert: () => void = () => {},
    private readonly now: () => number = () => Date.now() / 1000,
  ) {}

  /** Stores a new version as `caller` (who must have a user id and may write the name). */
  async insert(caller: Caller, input: InsertInput): Promise<StoredEvent> {
    const userId = caller.userId;
    if (userId === undefined) throw new AppError('unauthorized', 'A Bearer token is required.');
    const problem = eventNameProblem(input.event);
    if (problem) throw new AppError('invalid_input', `event ${problem}`);
    if (!this.access.may(caller, 'write', input.event)) {
      throw new AppError('forbidden', `You may not write "${input.event}".`);
    }
    const timestamp = input.timestamp ?? this.now();
    if (!Number.isFinite(timestamp) || timestamp < 0 || timestamp > MAX_TIMESTAMP) {
      throw new AppError('invalid_input', `timestamp must be epoch seconds between 0 and ${MAX_TIMESTAMP}`);
    }
    if (input.data === undefined) throw new AppError('invalid_input', 'data is required (any JSON value)');
    const stored = await this.store.append({
      id: newEventId(),
      userId,
      event: input.event,
      timestamp,
      data: compactJson(input.data, 'data'),
    });
    this.onInsert();
    // A due event was released by the insert's own commit; a future one needs the timer.
    if (!stored.published) this.scheduler.wake(timestamp);
    return stored;
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
