import type { StoredEvent } from '../store/store.js';

/** The event object of the API, as the original returned it. */
export interface EventView {
  readonly id: string;
  readonly user_id: string;
  readonly event: string;
  readonly timestamp: number;
  readonly published: boolean;
  readonly cancelled: boolean;
  readonly data: unknown;
}

export function toEventView(e: StoredEvent): EventView {
  return {
    id: e.id,
    user_id: e.userId,
    event: e.event,
    timestamp: e.timestamp,
    published: e.published,
    cancelled: e.cancelled,
    data: JSON.parse(e.data) as unknown,
  };
}
