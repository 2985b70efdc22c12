import type { Seq } from '../store/store.js';

/**
 * Tells every node "events up to this seq have been released". It carries sequence numbers,
 * never event data: a node reads what it has not delivered yet from the store, so a lost or
 * late notification delays delivery and never loses an event.
 */
export interface Fanout {
  publish(upTo: Seq): Promise<void>;
  /** Registers the node's sink; it may be called with a seq it already has (idempotent). */
  onReleased(sink: (upTo: Seq) => void): void;
  close(): Promise<void>;
}
