import type { Seq } from '../store/store.js';
import type { Fanout } from './fanout.js';

/** Single-process fan-out: the embedded store has one writer, so the node notifies itself. */
export class MemoryFanout implements Fanout {
  private readonly sinks: ((upTo: Seq) => void)[] = [];

  async publish(upTo: Seq): Promise<void> {
    for (const sink of this.sinks) sink(upTo);
  }

  onReleased(sink: (upTo: Seq) => void): void {
    this.sinks.push(sink);
  }

  /** There are no other nodes: the local scheduler was already woken by the insert itself. */
  async wakeOthers(): Promise<void> {}

  onWake(): void {}

  /** Other processes on the same SQLite file (the CLI) are heard by the feed's polling. */
  onAuthChange(): void {}

  async close(): Promise<void> {
    this.sinks.length = 0;
  }
}
