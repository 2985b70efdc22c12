import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyServerFactory,
  LogController,
} from 'fastify';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { type BrokerCore, type CoreOverrides, createBrokerCore } from './broker-core.js';
import type { Config } from './config/settings.js';
import { brokerPlugin } from './http/broker-plugin.js';
import { toHttpError } from './http/to-http-error.js';

export interface Broker {
  readonly app: FastifyInstance;
  readonly core: BrokerCore;
  readonly log: Logger;
  /** Starts releasing and listening; resolves with the URL it listens on. */
  listen(): Promise<string>;
  /** Graceful shutdown: refuse new work, end streams, finish in-flight requests, close the store. */
  close(): Promise<void>;
}

/** The standalone server: a BrokerCore behind its own Fastify instance. */
export async function createBroker(config: Config, log: Logger, overrides: CoreOverrides = {}): Promise<Broker> {
  const core = await createBrokerCore(config, log, overrides);
  const app = createFastify(config, log);
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
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });
  await app.register(brokerPlugin, { deps: core.deps, origins: config.origin, bodyLimit: config.bodyLimit });

  return {
    app,
    core,
    log,
    async listen() {
      await core.start();
      const address = await app.listen({ port: config.port, host: config.host });
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
    close() {
      closing ??= (async () => {
        await core.stopStreaming();
        const timer = setTimeout(() => {
          log.warn('shutdown timeout: closing remaining connections');
          app.server.closeAllConnections();
        }, config.shutdownTimeout * 1000);
        // Connections that become idle while draining (a request just answered) or that never
        // sent a byte (Node does not count those as idle) are closed as they appear, every 50 ms.
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
