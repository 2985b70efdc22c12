import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { toEventView } from '../../events/event-view.js';
import type { BrokerDeps } from '../broker-deps.js';
import { principal } from '../principal.js';
import { readPage } from '../query-params.js';
import { bodyReader } from '../read-body.js';

const readInsert = bodyReader(
  Type.Object({ event: Type.String(), timestamp: Type.Optional(Type.Number()), data: Type.Unknown() }),
);

/** POST /insert, GET /events/{event} (history), GET|POST /events/{id}/cancel. All need a token. */
export function eventRoutes(app: FastifyInstance, deps: BrokerDeps): void {
  app.post('/insert', async (request) => {
    const { caller } = await principal(deps, request);
    const body = readInsert(request.body);
    const stored = await deps.events.insert(caller, body);
    return { id: stored.id };
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
