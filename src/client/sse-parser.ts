/**
 * An incremental Server-Sent Events parser, following the WHATWG "event stream interpretation"
 * rules: chunks may be split anywhere (even between `\r` and `\n`), lines end with `\n`, `\r\n`
 * or `\r`, a leading byte-order mark is skipped, comments (`:hb`) are ignored, `field: value`
 * loses one leading space, `data:` lines are joined with `\n`, and an event without data is not
 * dispatched. Feed it decoded text; create one per connection (an incomplete event at the end of
 * a connection is discarded), carrying `lastEventId` over.
 */

export interface SseMessage {
  /** The last event ID buffer when the message was dispatched (`''` if none was ever set). */
  readonly lastEventId: string;
  /** The `event:` field, `'message'` when absent. */
  readonly event: string;
  readonly data: string;
}

export interface SseParserHandlers {
  onMessage(message: SseMessage): void;
  /** A valid `retry:` field (milliseconds). */
  onRetry?(ms: number): void;
  /** A comment line, without its leading colon (Broker's heartbeat is `hb`). */
  onComment?(text: string): void;
}

export class SseParser {
  /** The last event ID buffer; survives across events (and, if you pass it on, connections). */
  lastEventId: string;
  private pending = '';
  private skipLineFeed = false;
  private started = false;
  private data: string[] = [];
  private eventType = '';

  constructor(
    private readonly handlers: SseParserHandlers,
    lastEventId = '',
  ) {
    this.lastEventId = lastEventId;
  }

  push(chunk: string): void {
    let text = chunk;
    if (!this.started) {
      if (text.length === 0) return;
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    let i = 0;
    // The previous chunk ended with \r: a \n starting this one belongs to that line end.
    if (this.skipLineFeed && text.charCodeAt(0) === 10) i = 1;
    this.skipLineFeed = false;
    let lineStart = i;
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const line = this.pending + text.slice(lineStart, i);
      this.pending = '';
      if (c === 13) {
        if (i + 1 === text.length) this.skipLineFeed = true;
        else if (text.charCodeAt(i + 1) === 10) i++;
      }
      lineStart = i + 1;
      this.line(line);
    }
    this.pending += text.slice(lineStart);
  }

  private line(line: string): void {
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line.charCodeAt(0) === 58 /* : */) {
      this.handlers.onComment?.(line.slice(1));
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case 'data':
        this.data.push(value);
        break;
      case 'event':
        this.eventType = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.handlers.onRetry?.(Number(value));
        break;
      default:
        break; // unknown fields are ignored
    }
  }

  private dispatch(): void {
    const data = this.data;
    const event = this.eventType || 'message';
    this.data = [];
    this.eventType = '';
    if (data.length === 0) return;
    this.handlers.onMessage({ lastEventId: this.lastEventId, event, data: data.join('\n') });
  }
}
