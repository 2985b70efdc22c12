import { constants, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { SubscriberSink } from '../hub/subscriber-sink.js';
import { SSE_HEADERS } from './sse-stream.js';

/**
 * Connection-specific headers, which HTTP/2 forbids (RFC 9113 §8.2.2; Node refuses a response
 * carrying one). None of Broker's own is among them; this keeps a plugin's from breaking streams.
 */
const CONNECTION_HEADERS = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/**
 * The SSE writer of HTTP/2: one stream of a connection that many streams share. Frames go to the
 * Http2Stream, which queues them until HTTP/2 flow control lets them out (the client's window
 * for this stream and for the connection), so its `writableLength` is what this subscriber has
 * not yet been able to send, whether the client stopped reading this stream or the whole
 * connection stalled (the connection then stops taking data from every stream, and every
 * stream's queue grows). What the connection already took and the kernel still holds is not
 * counted, as on HTTP/1.1: it is bounded by the client's windows and the socket buffers.
 * Dropping a stream resets it (RST_STREAM), never the connection: its siblings go on.
 */
export class Http2SseStream implements SubscriberSink {
  private isClosed = false;
  private readonly listeners: (() => void)[] = [];

  constructor(
    private readonly stream: ServerHttp2Stream,
    extraHeaders: OutgoingHttpHeaders,
  ) {
    stream.on('close', () => {
      this.isClosed = true;
      for (const listener of this.listeners.splice(0)) listener();
    });
    // A reset by the client (a closed tab) is followed by 'close'; without a listener it would throw.
    stream.on('error', ignore);
    stream.respond(responseHeaders(extraHeaders));
  }

  get closed(): boolean {
    return this.isClosed || this.stream.destroyed;
  }

  get bufferedBytes(): number {
    return this.stream.writableLength;
  }

  write(chunk: Buffer): boolean {
    if (this.closed) return false;
    return this.stream.write(chunk);
  }

  waitDrain(): Promise<void> {
    if (this.closed || this.stream.writableLength === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.stream.off('drain', done);
        this.stream.off('close', done);
        resolve();
      };
      this.stream.on('drain', done);
      this.stream.on('close', done);
    });
  }

  /**
   * Ends cleanly: what is queued is still sent, then END_STREAM. A client that has not ended its
   * side of the stream (a request body left open) is then told to stop with RST_STREAM NO_ERROR
   * (RFC 9113 §8.1), so that it cannot hold the stream, and a shutdown, open.
   */
  end(): void {
    if (this.closed) return;
    this.isClosed = true;
    const stream = this.stream;
    stream.end(() => {
      if (!stream.closed) stream.close(constants.NGHTTP2_NO_ERROR);
    });
  }

  /** Drops the stream at once (RST_STREAM CANCEL): its queued frames are discarded. */
  destroy(): void {
    this.isClosed = true;
    if (!this.stream.closed) this.stream.close(constants.NGHTTP2_CANCEL);
  }

  onClose(listener: () => void): void {
    if (this.isClosed && this.stream.closed) queueMicrotask(listener);
    else this.listeners.push(listener);
  }
}

function ignore(): void {}

function responseHeaders(extra: OutgoingHttpHeaders): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = { ':status': 200 };
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined || CONNECTION_HEADERS.has(name.toLowerCase())) continue;
    headers[name.toLowerCase()] = value;
  }
  return { ...headers, ...SSE_HEADERS };
}
