import type { ReleasedEvent } from '../store/store.js';

/**
 * SSE frames as the original Broker's clients parse them: `field:value` with no space after
 * the colon, LF line endings, one `data:` line. Event names cannot hold CR or LF (validated at
 * insert) and `data` is compact JSON, which escapes every control character, so neither can
 * break a frame.
 */
export function eventFrame(event: ReleasedEvent): Buffer {
  return Buffer.from(`id:${event.seq}\nevent:${event.event}\ndata:${event.data}\n\n`);
}

export function retryFrame(milliseconds: number): Buffer {
  return Buffer.from(`retry:${milliseconds}\n\n`);
}

/** A comment line: ignored by every SSE parser, keeps proxies and NATs from idling us out. */
export const heartbeatFrame: Buffer = Buffer.from(':hb\n\n');

/** A comment frame (`: text`), e.g. why a stream is about to end. `text` is ours, one line. */
export function commentFrame(text: string): Buffer {
  return Buffer.from(`: ${text.replace(/[\r\n]/g, ' ')}\n\n`);
}
