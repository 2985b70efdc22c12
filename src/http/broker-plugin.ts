import cors from '@fastify/cors';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { AppError } from '../errors/app-error.js';
import type { BrokerDeps } from './broker-deps.js';
import { discardBody } from './discard-body.js';
import { adminRoutes } from './routes/admin-routes.js';
import { consoleRoutes } from './routes/console-routes.js';
import { eventRoutes } from './routes/event-routes.js';
import { meRoutes } from './routes/me-routes.js';
import { opsRoutes } from './routes/ops-routes.js';
import { streamRoutes } from './routes/stream-routes.js';
import { userRoutes } from './routes/user-routes.js';
import { toHttpError } from './to-http-error.js';

/**
 * Of a body over the limit, Broker reads and throws away up to this many times the limit (16 MiB
 * at the default 1 MiB) before answering 413, so that the client reads the answer; past it, or
 * past DISCARD_MAX_MS, it answers and closes the connection while the client may still be sending.
 */
export const DISCARD_LIMIT_FACTOR = 16;
/** Longest wait for the rest of an oversized body, in ms: a slow-loris upload is cut off after it. */
export const DISCARD_MAX_MS = 10_000;

export interface BrokerPluginOptions {
  readonly deps: BrokerDeps;
  /** Allowed CORS origins, or ['*']. */
  readonly origins: readonly string[];
  /** Largest request body (bytes) on Broker's routes, whatever the host's own limit is. */
  readonly bodyLimit?: number;
}

/**
 * All of Broker's routes, errors and CORS as one encapsulated Fastify plugin: the standalone
 * server registers it at the root, a host application under any prefix.
 */
export const brokerPlugin: FastifyPluginAsync<BrokerPluginOptions> = async (app, { deps, origins, bodyLimit }) => {
  if (bodyLimit !== undefined) {
    app.addHook('onRoute', (route) => {
      route.bodyLimit ??= bodyLimit;
    });
  }
  const anyOrigin = origins.length === 1 && origins[0] === '*';
  await app.register(cors, {
    origin: anyOrigin ? '*' : [...origins],
    // Credentials (the access_token cookie) only with named origins: browsers refuse them with *.
    credentials: !anyOrigin,
    methods: ['GET', 'POST', 'PATCH', 'DELETE', 'OPTIONS'],
    allowedHeaders: ['Content-Type', 'Authorization', 'Last-Event-ID', 'Idempotency-Key'],
    exposedHeaders: ['X-Next-After', 'Retry-After', 'Idempotent-Replayed'],
    maxAge: 600,
  });

  // JSON only: Fastify's default text/plain parser would accept JSON sent as a "simple" CORS
  // request (no preflight), and the API promises 415 for anything but application/json.
  app.removeContentTypeParser('text/plain');

  // Shutting down: stop waiting for the rest of oversized bodies, answer and close at once.
  const closing = new AbortController();
  app.addHook('preClose', async () => closing.abort());

  app.setErrorHandler((error, request, reply) => {
    const mapped = toHttpError(error);
    if (mapped.unexpected) request.log.error({ err: error }, 'request failed');
    else if (error instanceof AppError && error.cause !== undefined) {
      request.log.warn({ err: error.cause, code: mapped.body.code }, mapped.body.error);
    }
    if (mapped.body.code !== 'payload_too_large') {
      void reply.status(mapped.status).send(mapped.body);
      return;
    }
    // Fastify stops reading at the limit (at once when Content-Length is over it). A client still
    // sending when the answer comes and the connection closes often sees only a broken pipe, so
    // read the rest first, within bounds; the connection closes after the answer either way.
    reply.header('connection', 'close');
    const limits = { maxBytes: DISCARD_LIMIT_FACTOR * request.routeOptions.bodyLimit, maxMs: DISCARD_MAX_MS };
    void discardBody(request.raw, { ...limits, signal: closing.signal }).then(() => {
      void reply.status(mapped.status).send(mapped.body);
    });
  });
  app.setNotFoundHandler((_request, reply) => {
    const mapped = toHttpError(new AppError('route_not_found'));
    void reply.status(mapped.status).send(mapped.body);
  });

  registerRoutes(app, deps);
};

function registerRoutes(app: FastifyInstance, deps: BrokerDeps): void {
  userRoutes(app, deps);
  meRoutes(app, deps);
  adminRoutes(app, deps);
  eventRoutes(app, deps);
  streamRoutes(app, deps);
  opsRoutes(app, deps);
  consoleRoutes(app, deps);
}
