import type { FastifyRequest } from 'fastify';
import type { TokenService } from '../auth/token-service.js';
import { AppError } from '../errors/app-error.js';

/** Tokens longer than this are not ours (ours are ~200 bytes); refused before any crypto. */
const MAX_TOKEN_LENGTH = 4096;

export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** The `access_token` cookie, for browsers' EventSource, which cannot send headers. */
export function cookieToken(request: FastifyRequest): string | undefined {
  const header = request.headers.cookie;
  if (typeof header !== 'string') return undefined;
  for (const part of header.split(';')) {
    const [name, ...rest] = part.split('=');
    if (name?.trim() !== 'access_token') continue;
    try {
      return decodeURIComponent(rest.join('=').trim());
    } catch {
      return undefined; // malformed percent-encoding: no usable token
    }
  }
  return undefined;
}

/** The user id of a valid token, or a 401. */
export async function authenticate(tokens: TokenService, token: string | undefined): Promise<string> {
  if (token === undefined || token === '') throw new AppError('unauthorized', 'A Bearer token is required.');
  const userId = token.length <= MAX_TOKEN_LENGTH ? await tokens.verify(token) : undefined;
  if (userId === undefined) throw new AppError('unauthorized', 'The token is invalid or expired.');
  return userId;
}
