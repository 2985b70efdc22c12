import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../errors/app-error.js';
import { usernameKey } from '../../lib/username-key.js';
import type { BrokerDeps } from '../broker-deps.js';
import { principal } from '../principal.js';
import { Credentials, RefreshRequest } from '../openapi/schemas.js';
import { bodyReader } from '../read-body.js';

const readCredentials = bodyReader(Credentials);
const readRefresh = bodyReader(RefreshRequest);

/**
 * POST /users (sign up), POST /login (both spend bcrypt time, so both are throttled),
 * POST /token/refresh and POST /logout.
 */
export function userRoutes(app: FastifyInstance, deps: BrokerDeps): void {
  const throttle = (request: FastifyRequest, reply: FastifyReply, username: string): void => {
    const keys = [`ip:${request.ip}`, `user:${usernameKey(username)}`];
    if (!deps.throttle.attempt(keys)) {
      const wait = deps.throttle.retryAfter(keys);
      reply.header('retry-after', String(wait));
      throw new AppError('rate_limited', `Too many attempts; try again in ${wait} s.`);
    }
  };

  app.post('/users', async (request, reply) => {
    const body = readCredentials(request.body);
    throttle(request, reply, body.username);
    const id = await deps.users.create({ username: body.username, password: body.password, info: body.info });
    return { id };
  });

  // {"jwt"} as the original answered (its clients read only that), plus the refresh pair.
  app.post('/login', async (request, reply) => {
    const body = readCredentials(request.body);
    throttle(request, reply, body.username);
    return deps.sessions.login(body.username, body.password);
  });

  app.post('/token/refresh', async (request) => {
    const body = readRefresh(request.body);
    return deps.sessions.refresh(body.refresh_token);
  });

  app.post('/logout', async (request) => {
    await deps.sessions.logout(await principal(deps, request));
    return { ok: true };
  });
}
