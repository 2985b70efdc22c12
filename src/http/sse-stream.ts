import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { SubscriberSink } from '../hub/subscriber-sink.js';

/** Headers every stream gets; proxies must neither buffer nor cache it. */
const STREAM_HEADERS: OutgoingHttpHeaders = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
};

/**
 * The SSE writer: an event stream on Node's raw response (Fastify's reply is hijacked, which
 * costs the same CPU as bare node:http). Closing is detected on the response, not the request:
 * a request's 'close' fires as soon as its empty body is read.
 */
export class SseStream implements SubscriberSink {
  private isClosed = false;
  private readonly listeners: (() => void)[] = [];

  constructor(
    private readonly res: ServerResponse,
    extraHeaders: OutgoingHttpHeaders,
  ) {
    res.writeHead(200, { ...extraHeaders, ...STREAM_HEADERS });
    res.on('close', () => {
      this.isClosed = true;
      for (const listener of this.listeners.splice(0)) listener();
    });
    // A write error (peer reset) is followed by 'close'; without a listener it would throw.
    res.on('error', () => {});
  }

  get closed(): boolean {
    return this.isClosed || this.res.destroyed;
  }

  get bufferedBytes(): number {
    return this.res.writableLength;
  }

  write(chunk: Buffer): boolean {
    if (this.closed) return false;
    return this.res.write(chunk);
  }

  waitDrain(): Promise<void> {
    if (this.closed || this.res.writableLength === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }

  end(): void {
    if (!this.closed) this.res.end();
  }

  destroy(): void {
    this.isClosed = true;
    this.res.destroy();
  }

  onClose(listener: () => void): void {
    if (this.isClosed) queueMicrotask(listener);
    else this.listeners.push(listener);
  }
}
