import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { SubscriberSink } from '../hub/subscriber-sink.js';

/** Headers every stream gets, over HTTP/1.1 and HTTP/2; proxies must neither buffer nor cache it. */
export const SSE_HEADERS: OutgoingHttpHeaders = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
};

/** An HTTP/1.1 stream's headers. */
const STREAM_HEADERS: OutgoingHttpHeaders = {
  ...SSE_HEADERS,
  // The body is delimited by the end of the connection (no chunked framing): the socket is the
  // stream's own, and every frame goes to it without Node's per-write response bookkeeping.
  connection: 'close',
};

/**
 * The SSE writer of HTTP/1.1, over TCP or over TLS (the socket is then the TLS socket). Fastify's
 * reply is hijacked and the response head is written by hand, then frames go straight to the
 * socket: Node's ServerResponse costs most of the CPU of a delivery (chunk framing, state
 * checks), and a stream needs none of it. Closing is watched on the socket, never on the request
 * (whose 'close' fires as soon as its empty body is read). HTTP/2 streams have their own writer
 * (Http2SseStream): many of them share one connection.
 */
export class SseStream implements SubscriberSink {
  private readonly socket: Socket;
  private isClosed = false;
  private readonly listeners: (() => void)[] = [];

  constructor(res: ServerResponse, extraHeaders: OutgoingHttpHeaders) {
    const socket = res.socket;
    if (!socket) throw new Error('response has no socket');
    this.socket = socket;
    // `res` is never written to nor ended from here on (frames go to the socket, and the stream
    // ends with the connection), so its 'finish' and 'error' listeners can never run. They only
    // pin the framework's request and reply objects (≈ 0.7 KB) for the life of the stream: drop
    // them, keeping a no-op 'error' listener so that a stray error could not throw.
    res.removeAllListeners('finish');
    res.removeAllListeners('error');
    res.on('error', ignore);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    socket.on('close', () => {
      this.isClosed = true;
      for (const listener of this.listeners.splice(0)) listener();
    });
    // A write error (peer reset) is followed by 'close'; without a listener it would throw.
    socket.on('error', ignore);
    socket.write(head({ ...extraHeaders, ...STREAM_HEADERS }));
  }

  get closed(): boolean {
    return this.isClosed || this.socket.destroyed;
  }

  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  write(chunk: Buffer): boolean {
    if (this.closed) return false;
    return this.socket.write(chunk);
  }

  waitDrain(): Promise<void> {
    if (this.closed || this.socket.writableLength === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  /** Ends cleanly: what is queued is still sent; nothing more is written after it. */
  end(): void {
    if (this.closed) return;
    this.isClosed = true;
    // Once our last bytes are handed to the kernel, let go of the socket: a client that keeps
    // its half open (fetch pools do) must not hold a shutdown open.
    this.socket.end(() => this.socket.destroy());
  }

  destroy(): void {
    this.isClosed = true;
    this.socket.destroy();
  }

  onClose(listener: () => void): void {
    if (this.isClosed) queueMicrotask(listener);
    else this.listeners.push(listener);
  }
}

function ignore(): void {}

function head(headers: OutgoingHttpHeaders): string {
  let text = 'HTTP/1.1 200 OK\r\n';
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    // Header values come from our own constants and the CORS plugin, never from the request;
    // still, refuse anything that could split the head.
    for (const v of Array.isArray(value) ? value : [value]) {
      const s = String(v);
      if (/[\r\n]/.test(s) || /[\r\n:]/.test(name)) continue;
      text += `${name}: ${s}\r\n`;
    }
  }
  return `${text}\r\n`;
}
