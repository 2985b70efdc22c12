import { dirname } from 'node:path';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import { LoginThrottle } from './auth/login-throttle.js';
import { PasswordHasher } from './auth/password-hasher.js';
import { TokenService } from './auth/token-service.js';
import { UserService } from './auth/user-service.js';
import { ensureSecret } from './config/ensure-secret.js';
import type { Config } from './config/settings.js';
import { EventService } from './events/event-service.js';
import type { Fanout } from './fanout/fanout.js';
import { MemoryFanout } from './fanout/memory-fanout.js';
import { brokerPlugin } from './http/broker-plugin.js';
import type { BrokerDeps } from './http/broker-deps.js';
import { Hub } from './hub/hub.js';
import { openFileLimit } from './lib/open-file-limit.js';
import { Metrics } from './metrics/metrics.js';
import { ReleaseScheduler } from './scheduler/release-scheduler.js';
import { SqliteStore } from './store/sqlite/sqlite-store.js';
import type { Store } from './store/store.js';

/** Rows per store read (catch-up pages, live reads, release batches). */
const PAGE_SIZE = 500;
/** Descriptors kept free for the database, logs and ordinary requests when streams are capped. */
const RESERVED_FILES = 500;

export interface Broker {
  readonly app: FastifyInstance;
  readonly log: Logger;
  /** Starts releasing and listening; resolves with the URL it listens on. */
  listen(): Promise<string>;
  /** Graceful shutdown: refuse new work, end streams, finish in-flight requests, close the store. */
  close(): Promise<void>;
}

/** The composition root: the one place that names concrete classes. */
export async function createBroker(config: Config, log: Logger): Promise<Broker> {
  const db = config.databaseUrl;
  if (db.kind !== 'sqlite') throw new Error('only sqlite: is supported');
  const dataDir = db.path === ':memory:' ? './tmp' : dirname(db.path);
  const secret = ensureSecret(config.secret, dataDir);
  if (secret.source === 'generated') {
    log.warn({ path: secret.path }, 'SECRET is not set: generated one and stored it (mode 0600); set SECRET to use your own');
  } else if (secret.source === 'configured' && secret.secret.length < 32) {
    log.warn('SECRET is shorter than 32 characters; HS256 wants at least 256 bits of key');
  }

  const store: Store = new SqliteStore(db.path);
  const fanout: Fanout = new MemoryFanout();
  const metrics = new Metrics({ defaultMetrics: true });
  const hub = new Hub(
    store.events,
    {
      sendBufferLimit: config.sendBufferLimit,
      heartbeatMs: config.heartbeatInterval * 1000,
      retryMs: config.retry,
      pageSize: PAGE_SIZE,
    },
    metrics,
    log,
  );
  fanout.onReleased((upTo) => hub.released(upTo));
  const scheduler = new ReleaseScheduler(store.events, fanout, metrics, log, PAGE_SIZE);
  const tokens = new TokenService(secret.secret, config.expiry);
  let closing = false;
  const deps: BrokerDeps = {
    users: new UserService(store.users, new PasswordHasher(config.bcryptCost), tokens, config.passwordMinLength),
    events: new EventService(store.events, scheduler, () => metrics.inserts.inc()),
    tokens,
    hub,
    metrics,
    throttle: new LoginThrottle(config.loginRateLimit),
    ping: () => store.ping(),
    closing: () => closing,
    streamAuth: config.streamAuth,
    maxSubscribers: config.maxSubscribers || Math.max(100, (openFileLimit() ?? 10_500) - RESERVED_FILES),
  };

  const fastifyLog: FastifyBaseLogger = log;
  const app = Fastify({
    loggerInstance: fastifyLog,
    bodyLimit: config.bodyLimit,
    trustProxy: config.trustProxy,
    // Requests are logged once, at completion, with their status (see onResponse below).
    logController: new LogController({ disableRequestLogging: true }),
  });
  app.addHook('onResponse', async (request, reply) => {
    request.log.info({ req: request, res: reply, ms: Math.round(reply.elapsedTime) }, 'request');
  });
  await app.register(brokerPlugin, { deps, origins: config.origin });

  return {
    app,
    log,
    async listen() {
      await hub.start();
      await scheduler.start();
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
    async close() {
      if (closing) return;
      closing = true;
      hub.close();
      await scheduler.stop();
      const timer = setTimeout(() => {
        log.warn('shutdown timeout: closing remaining connections');
        app.server.closeAllConnections();
      }, config.shutdownTimeout * 1000);
      try {
        await app.close();
      } finally {
        clearTimeout(timer);
      }
      await fanout.close();
      await store.close();
    },
  };
}
