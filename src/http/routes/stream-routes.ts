import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { eventNameProblem } from '../../events/event-name.js';
import { AppError } from '../../errors/app-error.js';
import { redactUrl } from '../../logger.js';
import { authenticate, bearerToken, cookieToken } from '../authenticate.js';
import type { BrokerDeps } from '../broker-deps.js';
import { SseStream } from '../sse-stream.js';

/** Most names one stream may filter on (`?event=` repeated). */
export const MAX_FILTER_NAMES = 100;

type StreamQuery = Record<string, string | string[] | undefined>;

/** GET /events: the Server-Sent Events stream (snapshot or resume, then live). */
export function streamRoutes(app: FastifyInstance, deps: BrokerDeps): void {
  app.get<{ Querystring: StreamQuery }>('/events', async (request, reply) => {
    if (deps.closing()) throw new AppError('unavailable', 'Shutting down; reconnect to another node.');
    const names = readNames(request.query.event);
    const lastEventId = readLastEventId(request);
    if (deps.streamAuth) {
      const queryToken = request.query.access_token;
      const token =
        bearerToken(request) ?? cookieToken(request) ?? (typeof queryToken === 'string' ? queryToken : undefined);
      await authenticate(deps.tokens, token);
    }
    if (deps.hub.size >= deps.maxSubscribers) {
      reply.header('retry-after', '5');
      throw new AppError('too_many_subscribers');
    }
    // The client may have gone while we authenticated: there is nothing to stream to.
    if (!reply.raw.socket || reply.raw.socket.destroyed) return reply.hijack();
    reply.hijack();
    const stream = new SseStream(reply.raw, reply.getHeaders() as OutgoingHttpHeaders);
    // A hijacked reply skips the onResponse log line: log the stream once, when it ends. The
    // closure lives as long as the stream, so it keeps the few fields of the line, not the
    // request (nor its child logger). The URL is redacted here too: a host application's
    // logger (library mode) may not have Broker's serializers.
    const opened = Date.now();
    const req = { method: request.method, url: redactUrl(request.url), ip: request.ip };
    const line = { reqId: request.id, req, stream: true };
    const log = app.log;
    stream.onClose(() => {
      log.info({ ...line, res: { statusCode: 200 }, ms: Date.now() - opened }, 'request');
    });
    await deps.hub.subscribe(stream, { names, lastEventId });
  });
}

function readNames(raw: string | string[] | undefined): readonly string[] | undefined {
  if (raw === undefined) return undefined;
  const names = [...new Set(Array.isArray(raw) ? raw : [raw])];
  if (names.length > MAX_FILTER_NAMES) {
    throw new AppError('invalid_input', `at most ${MAX_FILTER_NAMES} event names per stream`);
  }
  for (const name of names) {
    const problem = eventNameProblem(name);
    if (problem) throw new AppError('invalid_input', `event filter ${problem}`);
  }
  return names;
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
