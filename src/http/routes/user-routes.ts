import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { usernameKey } from '../../lib/username-key.js';
import { AppError } from '../../errors/app-error.js';
import type { BrokerDeps } from '../broker-deps.js';
import { bodyReader } from '../read-body.js';

const readCredentials = bodyReader(
  Type.Object({ username: Type.String(), password: Type.String(), info: Type.Optional(Type.Unknown()) }),
);

/** POST /users (sign up) and POST /login; both spend bcrypt time, so both are throttled. */
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

  app.post('/login', async (request, reply) => {
    const body = readCredentials(request.body);
    throttle(request, reply, body.username);
    return { jwt: await deps.users.login(body.username, body.password) };
  });
}
