import type { Seq } from '../store/store.js';

/**
 * Tells every node "events up to this seq have been released", and "the pending schedule
 * changed". It carries sequence numbers and due times, never event data: a node reads what it
 * has not delivered yet from the store, so a lost or late notification delays delivery and
 * never loses an event.
 */
export interface Fanout {
  /** Every node's released-sink will hear `upTo` (this node's too). */
  publish(upTo: Seq): Promise<void>;
  /**
   * Registers the node's sink. It may be called with a seq it already has (idempotent), and is
   * also called after a lost connection is re-established, with the newest seq, to catch up.
   */
  onReleased(sink: (upTo: Seq) => void): void;
  /** Tells the other nodes an event is due at `dueAt` (epoch s), or that pending events changed. */
  wakeOthers(dueAt: number | undefined): Promise<void>;
  /** Registers the node's scheduler; `dueAt` undefined means "recompute". */
  onWake(sink: (dueAt: number | undefined) => void): void;
  /**
   * Registers the node's auth change feed: called when another process logged an auth change
   * (it then reads the log). A fan-out that cannot hear other processes never calls it; the
   * feed's polling covers them.
   */
  onAuthChange(sink: () => void): void;
  close(): Promise<void>;
}
