import type { FastifyInstance } from 'fastify';
import { toUserView } from '../../auth/user-view.js';
import type { BrokerDeps } from '../broker-deps.js';
import { adminPrincipal } from '../principal.js';
import { readPage, single } from '../query-params.js';
import { UserEdit } from '../openapi/schemas.js';
import { bodyReader } from '../read-body.js';

const readEdit = bodyReader(UserEdit);

/** The admin API (role `admin`): list, read, change and delete users. */
export function adminRoutes(app: FastifyInstance, deps: BrokerDeps): void {
  app.get<{ Querystring: Record<string, unknown> }>('/admin/users', async (request) => {
    await adminPrincipal(deps, request);
    const search = request.query.search === undefined ? undefined : single(request.query.search, 'search');
    const { users, next } = await deps.users.list({ ...readPage(request.query), ...(search === undefined ? {} : { search }) });
    return { users: users.map(toUserView), next: next ?? null };
  });

  app.get<{ Params: { id: string } }>('/admin/users/:id', async (request) => {
    await adminPrincipal(deps, request);
    return toUserView(await deps.users.get(request.params.id));
  });

  app.patch<{ Params: { id: string } }>('/admin/users/:id', async (request) => {
    await adminPrincipal(deps, request);
    const body = readEdit(request.body);
    return toUserView(await deps.users.edit(request.params.id, body));
  });

  // Their events stay, with their user_id; the id no longer resolves to a user (404 here).
  app.delete<{ Params: { id: string } }>('/admin/users/:id', async (request) => {
    await adminPrincipal(deps, request);
    await deps.users.delete(request.params.id);
    return { id: request.params.id, deleted: true };
  });
}
