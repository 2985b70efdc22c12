import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Http2ServerResponse } from 'node:http2';
import type { SubscriberSink } from '../hub/subscriber-sink.js';
import { Http2SseStream } from './http2-sse-stream.js';
import { SseStream } from './sse-stream.js';

/**
 * The stream writer for the protocol the request came in on: HTTP/2 (Broker with TLS_CERT, or a
 * host's HTTP/2 server when Broker is mounted) or HTTP/1.1 (plain or over TLS). Undefined when
 * the client has already gone. The response must be hijacked: the writer sends the head itself,
 * with `headers` (the CORS headers Fastify set) beside the stream's own.
 */
export function openSseSink(res: ServerResponse | Http2ServerResponse, headers: OutgoingHttpHeaders): SubscriberSink | undefined {
  if (res instanceof Http2ServerResponse) {
    const stream = res.stream;
    if (stream.destroyed || stream.closed) return undefined;
    // As on HTTP/1.1 (SseStream): the framework's listeners on the response can never run once
    // it is hijacked, and only pin its request and reply for the life of the stream.
    res.removeAllListeners('finish');
    res.removeAllListeners('error');
    res.on('error', ignore);
    return new Http2SseStream(stream, headers);
  }
  if (!res.socket || res.socket.destroyed) return undefined;
  return new SseStream(res, headers);
}

function ignore(): void {}
