import type { Caller } from '../access/caller.js';
import type { Seq } from '../store/store.js';
import type { StreamFilter } from './stream-filter.js';
import type { SubscriberSink } from './subscriber-sink.js';

/** Who reads a stream, and the token it is bound to (if any). */
export interface StreamReader {
  readonly caller: Caller;
  /**
   * Set when the stream was opened with a token that matters: it ends when the token expires,
   * or when the token's session or generation is revoked.
   */
  readonly token?: {
    readonly sessionId: string | undefined;
    readonly gen: number;
    /** Epoch ms. */
    readonly expiresAtMs: number;
  };
}

/**
 * One stream. `lastSeq` is the highest release seq this subscriber has been brought up to
 * (sent, or known not to match its filter); every delivery at or below it is skipped, which is
 * what makes snapshot/replay → live free of duplicates.
 */
export class Subscriber {
  lastSeq: Seq = 0;
  /**
   * Streams with the same chunk key receive the same bytes for a batch (apart from names bound
   * to their own user by `{user}`): the same filter, read by the same kind of reader.
   */
  readonly chunkKey: string;

  constructor(
    readonly sink: SubscriberSink,
    readonly filter: StreamFilter,
    readonly reader: StreamReader,
  ) {
    this.chunkKey = `${filter.key}\u0001${reader.caller.readerKey}`;
  }
}
