import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { toEventView } from '../../events/event-view.js';
import { AppError } from '../../errors/app-error.js';
import { authenticate, bearerToken } from '../authenticate.js';
import type { BrokerDeps } from '../broker-deps.js';
import { bodyReader } from '../read-body.js';

const readInsert = bodyReader(
  Type.Object({ event: Type.String(), timestamp: Type.Optional(Type.Number()), data: Type.Unknown() }),
);

/** POST /insert, GET /events/{event} (history), GET|POST /events/{id}/cancel. All need a token. */
export function eventRoutes(app: FastifyInstance, deps: BrokerDeps): void {
  app.post('/insert', async (request) => {
    const userId = await authenticate(deps.tokens, bearerToken(request));
    const body = readInsert(request.body);
    const stored = await deps.events.insert(userId, body);
    return { id: stored.id };
  });

  app.get<{ Params: { event: string }; Querystring: Record<string, unknown> }>(
    '/events/:event',
    async (request, reply) => {
      await authenticate(deps.tokens, bearerToken(request));
      const { limit, after } = request.query;
      const page = {
        limit: limit === undefined ? undefined : parseLimit(limit),
        after: after === undefined ? undefined : single(after, 'after'),
      };
      const { events, next } = await deps.events.history(request.params.event, page);
      // The body stays the original's plain array; the cursor of the next page rides in a header.
      if (next !== undefined) reply.header('x-next-after', next);
      return events.map(toEventView);
    },
  );

  const cancel = async (request: FastifyRequest<{ Params: { id: string } }>) => {
    const userId = await authenticate(deps.tokens, bearerToken(request));
    return toEventView(await deps.events.cancel(userId, request.params.id));
  };
  app.get<{ Params: { id: string } }>('/events/:id/cancel', (request) => cancel(request));
  app.post<{ Params: { id: string } }>('/events/:id/cancel', (request) => cancel(request));
}

function single(value: unknown, name: string): string {
  if (typeof value !== 'string') throw new AppError('invalid_input', `${name} must be given once`);
  return value;
}

function parseLimit(value: unknown): number {
  const text = single(value, 'limit');
  if (!/^\d{1,9}$/.test(text)) throw new AppError('invalid_input', 'limit must be a whole number');
  return Number(text);
}
