import type { FastifyRequest } from 'fastify';
import type { Principal } from '../auth/authenticator.js';
import { AppError } from '../errors/app-error.js';
import { bearerToken } from './authenticate.js';
import type { BrokerDeps } from './broker-deps.js';

/** The caller of a request that needs `Authorization: Bearer` (401 otherwise). */
export function principal(deps: BrokerDeps, request: FastifyRequest): Principal | Promise<Principal> {
  return deps.auth.authenticate(bearerToken(request));
}

/** The caller of an admin endpoint: no token 401, a user without the admin role 403. */
export async function adminPrincipal(deps: BrokerDeps, request: FastifyRequest): Promise<Principal> {
  const p = await principal(deps, request);
  if (!p.caller.admin) throw new AppError('forbidden', 'Only admins may do that.');
  return p;
}
