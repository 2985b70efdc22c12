import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  createSecureServer,
  type Http2SecureServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type ServerHttp2Session,
} from 'node:http2';
import type { TlsCredentials } from './tls-credentials.js';

/** A request listener for both protocols: HTTP/2 streams and HTTP/1.1 requests over TLS. */
export type SecureRequestHandler = (req: Http2ServerRequest | IncomingMessage, res: Http2ServerResponse | ServerResponse) => void;

/**
 * An HTTP/2 connection with no frame in either direction for this long, in ms, is closed
 * gracefully (GOAWAY): the HTTP/2 twin of Fastify's 72 s keep-alive timeout for HTTP/1.1. A
 * connection carrying a stream is never idle for long (a heartbeat every HEARTBEAT_INTERVAL),
 * and a GOAWAY would not end its streams anyway.
 */
const SESSION_IDLE_MS = 72_000;
/**
 * An idle HTTP/1.1 keep-alive connection over TLS is closed after this long, in ms: what Fastify
 * sets on the plain server (keepAliveTimeout). Node's HTTP/2 server leaves it unset for its
 * HTTP/1.1 connections, which then stay open as long as the client wants.
 */
const KEEP_ALIVE_MS = 72_000;
/**
 * Streams one client may have open at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS;
 * RFC 9113 asks for at least 100). Node's default is 2^32 − 1: no bound at all. A browser puts
 * every EventSource and request of an origin on one connection; MAX_STREAMS_PER_USER and
 * MAX_STREAMS_PER_IP still cap the event streams among them.
 */
const MAX_CONCURRENT_STREAMS = 1000;

/**
 * HTTPS with HTTP/2 and HTTP/1.1 on one port (the client picks by ALPN), and the HTTP/2 sessions
 * it holds: Node's server does not close them on close() before Node 24, and a GOAWAY is how
 * a shutdown tells HTTP/2 clients to go elsewhere.
 */
export class SecureServer {
  readonly server: Http2SecureServer;
  private readonly sessions = new Set<ServerHttp2Session>();
  private draining = false;

  constructor(credentials: TlsCredentials, handler: SecureRequestHandler) {
    this.server = createSecureServer(
      { allowHTTP1: true, cert: credentials.cert, key: credentials.key, settings: { maxConcurrentStreams: MAX_CONCURRENT_STREAMS } },
      handler,
    );
    // Read by Node's HTTP/1.1 connection handling, which this server borrows for allowHTTP1;
    // not in Http2SecureServer's type.
    Object.assign(this.server, { keepAliveTimeout: KEEP_ALIVE_MS });
    this.server.on('session', (session: ServerHttp2Session) => {
      this.sessions.add(session);
      session.once('close', () => this.sessions.delete(session));
      session.setTimeout(SESSION_IDLE_MS, () => session.close());
      // A connection that arrives while draining (its handshake was under way) is told at once.
      if (this.draining) session.close();
    });
  }

  /** New certificate and key for new connections; open connections keep theirs (and their streams). */
  reload(credentials: TlsCredentials): void {
    this.server.setSecureContext({ cert: credentials.cert, key: credentials.key });
  }

  /**
   * Shutdown: GOAWAY on every HTTP/2 connection (no new streams on it) and a graceful close, which
   * completes as soon as its open streams and requests are done. The event streams are ended
   * by the hub first, so only requests in flight are waited for.
   */
  drain(): void {
    this.draining = true;
    for (const session of this.sessions) session.close();
  }

  /** Past SHUTDOWN_TIMEOUT: every HTTP/2 connection goes, whatever it was doing. */
  destroySessions(): void {
    for (const session of this.sessions) session.destroy();
  }
}
