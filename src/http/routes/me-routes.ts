import type { FastifyInstance } from 'fastify';
import { toMeView } from '../../auth/user-view.js';
import { toEventView } from '../../events/event-view.js';
import type { BrokerDeps } from '../broker-deps.js';
import { principal } from '../principal.js';
import { readPage } from '../query-params.js';
import { MePatch, PasswordChange } from '../openapi/schemas.js';
import { bodyReader } from '../read-body.js';

const readMe = bodyReader(MePatch);
const readPasswords = bodyReader(PasswordChange);

/** Self-service: GET|PATCH /me, POST /me/password, GET /me/pending. */
export function meRoutes(app: FastifyInstance, deps: BrokerDeps): void {
  app.get('/me', async (request) => {
    const { caller } = await principal(deps, request);
    return toMeView(await deps.users.get(caller.userId as string));
  });

  app.patch('/me', async (request) => {
    const { caller } = await principal(deps, request);
    const body = readMe(request.body);
    return toMeView(await deps.users.edit(caller.userId as string, { info: body.info ?? null }));
  });

  // Every session of the user ends (other devices included); the caller gets a new one.
  app.post('/me/password', async (request) => {
    const { caller } = await principal(deps, request);
    const body = readPasswords(request.body);
    const user = await deps.users.changePassword(caller.userId as string, body.old_password, body.new_password);
    return deps.sessions.start(user);
  });

  app.get<{ Querystring: Record<string, unknown> }>('/me/pending', async (request, reply) => {
    const { caller } = await principal(deps, request);
    const { events, next } = await deps.events.pending(caller.userId as string, readPage(request.query));
    if (next !== undefined) reply.header('x-next-after', next);
    return events.map(toEventView);
  });
}
