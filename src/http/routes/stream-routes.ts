import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ANONYMOUS } from '../../access/caller.js';
import { PatternError } from '../../access/name-pattern.js';
import { AppError } from '../../errors/app-error.js';
import { StreamFilter } from '../../hub/stream-filter.js';
import type { StreamReader } from '../../hub/subscriber.js';
import { redactUrl } from '../../logger.js';
import { bearerToken, cookieToken } from '../authenticate.js';
import type { BrokerDeps } from '../broker-deps.js';
import { openSseSink } from '../open-sse-sink.js';

type StreamQuery = Record<string, string | string[] | undefined>;

/**
 * GET /events: the Server-Sent Events stream (snapshot or resume, then live), of the names the
 * caller may read. The token (header, cookie or `access_token`) decides what that is; it is
 * ignored, as the original did, when it cannot change anything: no STREAM_AUTH and every name
 * public. A stream opened with a token that matters ends when the token expires or is revoked.
 */
export function streamRoutes(app: FastifyInstance, deps: BrokerDeps): void {
  app.get<{ Querystring: StreamQuery }>('/events', async (request, reply) => {
    if (deps.closing()) throw new AppError('unavailable', 'Shutting down; reconnect to another node.');
    const filter = readFilter(request.query.event);
    const lastEventId = readLastEventId(request);
    const reader = await readReader(deps, request);
    for (const name of filter.exactNames) {
      if (!deps.access.may(reader.caller, 'read', name)) throw new AppError('forbidden', `You may not read "${name}".`);
    }
    if (deps.hub.size >= deps.maxSubscribers) {
      reply.header('retry-after', '5');
      throw new AppError('too_many_subscribers');
    }
    const userId = reader.caller.userId;
    const release = deps.quota.acquire(userId === undefined ? { ip: request.ip } : { userId });
    if (!release) {
      reply.header('retry-after', '30');
      throw new AppError('too_many_streams');
    }
    reply.hijack();
    // HTTP/1.1 or HTTP/2, whichever the client speaks; undefined when the client has gone while
    // we authenticated: there is nothing to stream to.
    const stream = openSseSink(reply.raw, reply.getHeaders() as OutgoingHttpHeaders);
    if (!stream) {
      release();
      return;
    }
    // A hijacked reply skips the onResponse log line: log the stream once, when it ends. The
    // closure lives as long as the stream, so it keeps the few fields of the line, not the
    // request (nor its child logger). The URL is redacted here too: a host application's
    // logger (library mode) may not have Broker's serializers.
    const opened = Date.now();
    const req = { method: request.method, url: redactUrl(request.url), ip: request.ip };
    const line = { reqId: request.id, req, stream: true };
    const log = app.log;
    stream.onClose(() => {
      release();
      log.info({ ...line, res: { statusCode: 200 }, ms: Date.now() - opened }, 'request');
    });
    await deps.hub.subscribe(stream, { filter, lastEventId, reader });
  });
}

/** Who reads: anonymous, or the token's user (401 for a bad token where the token matters). */
async function readReader(deps: BrokerDeps, request: FastifyRequest<{ Querystring: StreamQuery }>): Promise<StreamReader> {
  const tokenMatters = deps.streamAuth || !deps.access.allPublicRead;
  if (!tokenMatters) return { caller: ANONYMOUS };
  const queryToken = request.query.access_token;
  const token = bearerToken(request) ?? cookieToken(request) ?? (typeof queryToken === 'string' ? queryToken : undefined);
  if (token === undefined && !deps.streamAuth) return { caller: ANONYMOUS };
  const claims = await deps.auth.authenticate(token);
  return { caller: claims.caller, token: { sessionId: claims.sid, gen: claims.gen, expiresAtMs: claims.exp * 1000 } };
}

function readFilter(raw: string | string[] | undefined): StreamFilter {
  if (raw === undefined) return StreamFilter.all;
  try {
    return StreamFilter.parse(Array.isArray(raw) ? raw : [raw]);
  } catch (error) {
    if (error instanceof PatternError) throw new AppError('invalid_input', error.message);
    throw error;
  }
}

/** `Last-Event-ID` header (what EventSource sends on reconnect) or `?lastEventId=` for a first connect. */
function readLastEventId(request: FastifyRequest<{ Querystring: StreamQuery }>): number | undefined {
  const header = request.headers['last-event-id'];
  const raw = typeof header === 'string' && header.trim() !== '' ? header : request.query.lastEventId;
  if (raw === undefined || raw === '') return undefined;
  if (typeof raw !== 'string' || !/^\s*\d{1,15}\s*$/.test(raw)) {
    throw new AppError('invalid_input', 'Last-Event-ID must be a release sequence number (a whole number)');
  }
  return Number(raw.trim());
}
