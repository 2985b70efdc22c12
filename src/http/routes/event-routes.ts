import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { toEventView } from '../../events/event-view.js';
import type { BrokerDeps } from '../broker-deps.js';
import { principal } from '../principal.js';
import { readPage } from '../query-params.js';
import { AppError } from '../../errors/app-error.js';
import { InsertItem } from '../openapi/schemas.js';
import { bodyReader } from '../read-body.js';

const readInsert = bodyReader(InsertItem);

/** An Idempotency-Key: 1 to 255 visible ASCII characters (a UUID is the usual choice). */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** POST /insert, GET /events/{event} (history), GET|POST /events/{id}/cancel. All need a token. */
export function eventRoutes(app: FastifyInstance, deps: BrokerDeps): void {
  // One event (an object, answered {"id"}) or a batch (an array, answered [{"id"}, …] in order),
  // stored all or nothing; with Idempotency-Key, safe to retry.
  app.post('/insert', async (request, reply) => {
    const { caller } = await principal(deps, request);
    const body = request.body;
    const single = !Array.isArray(body);
    const inputs = single
      ? [readInsert(body)]
      : body.map((item: unknown, i: number) => {
          try {
            return readInsert(item);
          } catch (error) {
            if (error instanceof AppError) throw new AppError(error.code, `item ${i}: ${error.message}`);
            throw error;
          }
        });
    const key = idempotencyKey(request.headers['idempotency-key']);
    const idempotency = key === undefined ? undefined : { key, hash: bodyHash(body) };
    const result = await deps.events.insertMany(caller, inputs, { single, ...(idempotency ? { idempotency } : {}) });
    if (result.replayed) reply.header('idempotent-replayed', 'true');
    reply.header('content-type', 'application/json; charset=utf-8');
    return result.response;
  });

  app.get<{ Params: { event: string }; Querystring: Record<string, unknown> }>(
    '/events/:event',
    async (request, reply) => {
      const { caller } = await principal(deps, request);
      const { events, next } = await deps.events.history(caller, request.params.event, readPage(request.query));
      // The body stays the original's plain array; the cursor of the next page rides in a header.
      if (next !== undefined) reply.header('x-next-after', next);
      return events.map(toEventView);
    },
  );

  const cancel = async (request: FastifyRequest<{ Params: { id: string } }>) => {
    const { caller } = await principal(deps, request);
    return toEventView(await deps.events.cancel(caller, request.params.id));
  };
  app.get<{ Params: { id: string } }>('/events/:id/cancel', (request) => cancel(request));
  app.post<{ Params: { id: string } }>('/events/:id/cancel', (request) => cancel(request));
}

function idempotencyKey(raw: string | string[] | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || !IDEMPOTENCY_KEY.test(raw)) {
    throw new AppError('invalid_input', 'Idempotency-Key must be given once, 1 to 255 visible ASCII characters (e.g. a UUID)');
  }
  return raw;
}

/** The body as parsed, serialised again: the same JSON with other spacing is the same request. */
function bodyHash(body: unknown): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('base64url');
}
