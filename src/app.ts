import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyServerFactory,
  LogController,
} from 'fastify';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { type BrokerCore, type CoreOverrides, createBrokerCore } from './broker-core.js';
import type { Config } from './config/settings.js';
import { brokerPlugin } from './http/broker-plugin.js';
import { type SecureRequestHandler, SecureServer } from './http/secure-server.js';
import { loadTlsCredentials, type TlsCredentials } from './http/tls-credentials.js';
import { toHttpError } from './http/to-http-error.js';

/** What the logs say about the certificate in use. */
export interface CertificateInfo {
  readonly subject: string;
  readonly serialNumber: string;
  readonly fingerprint256: string;
  readonly validTo: string;
  readonly expired: boolean;
}

export interface Broker {
  readonly app: FastifyInstance;
  readonly core: BrokerCore;
  readonly log: Logger;
  /** The certificate served with TLS_CERT and TLS_KEY (HTTPS, HTTP/2 and HTTP/1.1); undefined: plain HTTP/1.1. */
  readonly certificate: CertificateInfo | undefined;
  /** Starts releasing and listening; resolves with the URL it listens on (https://… with TLS). */
  listen(): Promise<string>;
  /**
   * Reads TLS_CERT and TLS_KEY again (SIGHUP) for the connections that come next; open ones, and
   * their streams, go on. Throws TlsError, keeping the certificate in use, when the new files are
   * not a valid pair. Undefined when Broker serves no TLS.
   */
  reloadTls(): CertificateInfo | undefined;
  /** Graceful shutdown: refuse new work, end streams, finish in-flight requests, close the store. */
  close(): Promise<void>;
}

/** The standalone server: a BrokerCore behind its own Fastify instance. */
export async function createBroker(config: Config, log: Logger, overrides: CoreOverrides = {}): Promise<Broker> {
  // The certificate first, like the rules: a bad one stops start-up before the database is opened.
  const tls = config.tlsCert !== undefined && config.tlsKey !== undefined ? loadTlsCredentials(config.tlsCert, config.tlsKey) : undefined;
  let certificate = tls && certificateInfo(tls);
  const core = await createBrokerCore(config, log, overrides);
  let secure: SecureServer | undefined;
  const app = createFastify(
    config,
    log,
    tls &&
      ((handler) => {
        // Fastify's types tie the raw request and response to the server's type; its handler
        // takes both protocols' (it uses what Node's HTTP/2 compatibility API has in common with
        // HTTP/1.1). Broker's routes are typed for HTTP/1.1 and the stream route tells the two
        // apart (open-sse-sink.ts), so the instance keeps its HTTP/1.1 typing and the real
        // server is kept here, with its own type.
        secure = new SecureServer(tls, handler as SecureRequestHandler);
        return secure.server as unknown as Server;
      }),
  );
  let closing: Promise<void> | undefined;
  const sockets = new Set<Socket>();
  // One listener function for every socket (a stream holds its socket for hours: no closure,
  // no once-wrapper per connection).
  function forget(this: Socket): void {
    sockets.delete(this);
  }
  app.server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', forget);
  });
  // While draining, every response closes its connection: an idle keep-alive connection would
  // otherwise hold app.close() open until SHUTDOWN_TIMEOUT.
  // HTTP/2 has no such header (its connections get a GOAWAY instead, see close()).
  app.addHook('onSend', async (request, reply) => {
    if (closing && request.raw.httpVersionMajor === 1) reply.header('connection', 'close');
  });
  await app.register(brokerPlugin, { deps: core.deps, origins: config.origin, bodyLimit: config.bodyLimit });

  return {
    app,
    core,
    log,
    get certificate() {
      return certificate;
    },
    async listen() {
      await core.start();
      // Fastify names the scheme after its own https option, which a server factory bypasses.
      const scheme = (address: string): string => (secure ? address.replace(/^http:/, 'https:') : address);
      const address = scheme(
        await app.listen({ port: config.port, host: config.host, listenTextResolver: (at) => `Server listening at ${scheme(at)}` }),
      );
      // accept() failing (EMFILE at the open-file limit) is emitted as a server 'error'; unheard,
      // it would crash the process. libuv already sheds the connection; log it, at most every 10 s.
      let lastLogged = 0;
      app.server.on('error', (error) => {
        if (Date.now() - lastLogged < 10_000) return;
        lastLogged = Date.now();
        log.error({ err: error }, 'accepting a connection failed; still serving');
      });
      return address;
    },
    reloadTls() {
      if (!secure || config.tlsCert === undefined || config.tlsKey === undefined) return undefined;
      const fresh = loadTlsCredentials(config.tlsCert, config.tlsKey);
      secure.reload(fresh);
      certificate = certificateInfo(fresh);
      return certificate;
    },
    close() {
      closing ??= (async () => {
        await core.stopStreaming();
        const timer = setTimeout(() => {
          log.warn('shutdown timeout: closing remaining connections');
          if (secure) {
            secure.destroySessions();
            for (const socket of sockets) socket.destroy();
          } else {
            app.server.closeAllConnections();
          }
        }, config.shutdownTimeout * 1000);
        // HTTP/2 connections get a GOAWAY and close as soon as their requests in flight are done
        // (their event streams were just ended).
        secure?.drain();
        // Connections that become idle while draining (a request just answered) or that never
        // sent a byte (Node does not count those as idle) are closed as they appear, every 50 ms.
        // On the TLS server the first covers its HTTP/1.1 connections, and `sockets` holds the
        // TCP sockets under TLS, whose bytesRead counts the handshake.
        const sweep = (): void => {
          app.server.closeIdleConnections();
          for (const socket of sockets) if (socket.bytesRead === 0) socket.destroy();
        };
        sweep();
        const sweeper = setInterval(sweep, 50);
        try {
          await app.close();
        } finally {
          clearTimeout(timer);
          clearInterval(sweeper);
        }
        await core.close();
      })();
      return closing;
    },
  };
}

function certificateInfo(tls: TlsCredentials): CertificateInfo {
  const { subject, serialNumber, fingerprint256, validTo, expired } = tls;
  return { subject, serialNumber, fingerprint256, validTo, expired };
}

/** Longest path parameter, in characters: a 256-code-point event name, percent-encoded. */
export const MAX_PATH_PARAM_LENGTH = 256 * 12;

/** Fastify with Broker's body limit, proxy trust and one log line per request. */
export function createFastify(config: Config, log: Logger, serverFactory?: FastifyServerFactory): FastifyInstance {
  const fastifyLog: FastifyBaseLogger = log;
  const app = Fastify({
    ...(serverFactory ? { serverFactory } : {}),
    loggerInstance: fastifyLog,
    bodyLimit: config.bodyLimit,
    trustProxy: config.trustProxy,
    // Requests are logged once, at completion, with their status (see onResponse below).
    logController: new LogController({ disableRequestLogging: true }),
    // An event name is up to 256 code points; percent-encoded in a path that is up to 3,072
    // characters (4 UTF-8 bytes × 3). Longer segments are refused by the router as a 400.
    routerOptions: { maxParamLength: MAX_PATH_PARAM_LENGTH },
    // Errors the router raises before any route runs (bad percent-encoding, over-long
    // segments) get the same JSON shape as every other error.
    frameworkErrors: (error, _request, reply: FastifyReply) => {
      const mapped = toHttpError(error);
      void reply.status(mapped.status).send(mapped.body);
    },
  });
  app.addHook('onResponse', async (request, reply) => {
    request.log.info({ req: request, res: reply, ms: Math.round(reply.elapsedTime) }, 'request');
  });
  return app;
}
