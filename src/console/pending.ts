import type { BrokerClient } from '../client/index.js';

/** An event this console inserted for later, not yet seen released or cancelled. */
export interface PendingEvent {
  readonly id: string;
  readonly event: string;
  /** Due time, epoch seconds. */
  readonly timestamp: number;
}

export type PendingOutcome = 'pending' | 'released' | 'cancelled' | 'unknown';

/**
 * The user's pending events, kept in localStorage per user (Broker has no "my pending events"
 * endpoint): every future event inserted from this browser is remembered, and its fate is read
 * back from the name's history (`published` / `cancelled`).
 */
export class PendingStore {
  private readonly key: string;

  constructor(userId: string) {
    this.key = `broker.console.pending.${userId}`;
  }

  list(): PendingEvent[] {
    try {
      const parsed: unknown = JSON.parse(localStorage.getItem(this.key) ?? '[]');
      if (!Array.isArray(parsed)) return [];
      return parsed.filter(
        (p): p is PendingEvent =>
          typeof p === 'object' && p !== null && typeof p.id === 'string' && typeof p.event === 'string' && typeof p.timestamp === 'number',
      );
    } catch {
      return [];
    }
  }

  add(event: PendingEvent): void {
    this.save([...this.list().filter((p) => p.id !== event.id), event].sort((a, b) => a.timestamp - b.timestamp));
  }

  remove(id: string): void {
    this.save(this.list().filter((p) => p.id !== id));
  }

  private save(events: readonly PendingEvent[]): void {
    localStorage.setItem(this.key, JSON.stringify(events));
  }
}

/**
 * Reads the fate of `ids` (all of the event name `name`) from the history, page by page. Pending
 * events have the latest timestamps, so they are on the last pages.
 */
export async function outcomes(client: BrokerClient, name: string, ids: readonly string[]): Promise<Map<string, PendingOutcome>> {
  const result = new Map<string, PendingOutcome>(ids.map((id) => [id, 'unknown']));
  let left = ids.length;
  for await (const version of client.historyAll(name)) {
    if (!result.has(version.id)) continue;
    result.set(version.id, version.cancelled ? 'cancelled' : version.published ? 'released' : 'pending');
    left -= 1;
    if (left === 0) break;
  }
  return result;
}
