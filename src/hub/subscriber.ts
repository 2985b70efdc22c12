import type { Seq } from '../store/store.js';
import type { SubscriberSink } from './subscriber-sink.js';

/**
 * One stream. `lastSeq` is the highest release seq this subscriber has been brought up to
 * (sent, or known not to match its filter); every delivery at or below it is skipped, which is
 * what makes snapshot/replay → live free of duplicates.
 */
export class Subscriber {
  lastSeq: Seq = 0;
  /**
   * Identity of the filter: streams with the same names share one encoded chunk per batch
   * ('' = every name).
   */
  readonly filterKey: string;
  private readonly nameSet: ReadonlySet<string> | undefined;

  constructor(
    readonly sink: SubscriberSink,
    /** Only these event names; undefined = all. */
    readonly names: readonly string[] | undefined,
  ) {
    this.nameSet = names && new Set(names);
    this.filterKey = names === undefined ? '' : `=${[...new Set(names)].sort().join('\u0000')}`;
  }

  wants(event: string): boolean {
    return this.nameSet === undefined || this.nameSet.has(event);
  }
}
