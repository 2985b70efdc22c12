import type { FastifyRequest } from 'fastify';

/** The `Authorization: Bearer` token, if any. */
export function bearerToken(request: FastifyRequest): string | undefined {
  return tokenOfHeader(request.headers.authorization);
}

/** The token of an `Authorization` header value (`Bearer <token>`), if it is one. */
export function tokenOfHeader(header: string | undefined): string | undefined {
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
