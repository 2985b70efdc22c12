import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../errors/app-error.js';
import type { BrokerDeps } from '../broker-deps.js';

/**
 * The built package's dist/ directory. This file is dist/http/routes/console-routes.js once
 * built and src/http/routes/console-routes.ts under tsx: three levels up is the package root
 * either way, and the console is always served from the build (`npm run build`).
 */
const DIST = new URL('../../../dist/', import.meta.url);

/** What /console/… may serve: the console's own files, and the client modules it imports. */
const FOLDERS = { console: new URL('console/', DIST), client: new URL('client/', DIST) } as const;

const TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  map: 'application/json; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
  ico: 'image/x-icon',
};

/** A plain file name with a known extension: no directories, no dot files, no traversal. */
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*\.(html|css|js|map|svg|png|ico)$/;

/** The console talks to this Broker only: no other origin, no inline code, no framing. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * GET /console/ — the web console (and /console/demo.html, the reactive-form demo): static files
 * built into dist/console by `npm run build`. Pages load their modules from /console/app/, which
 * import the client library from /console/client/ (dist/client), as plain ES modules.
 */
export function consoleRoutes(app: FastifyInstance, _deps: BrokerDeps): void {
  // Relative, so it also works when Broker is mounted under a prefix.
  app.get('/console', async (_request, reply) => reply.redirect('console/', 301));
  app.get('/console/', (request, reply) => serve(request, reply, 'console', 'index.html'));
  app.get<{ Params: { file: string } }>('/console/:file', (request, reply) =>
    serve(request, reply, 'console', request.params.file),
  );
  // The console's modules, one level down so that their `../client/…` imports land below.
  app.get<{ Params: { file: string } }>('/console/app/:file', (request, reply) =>
    serve(request, reply, 'console', request.params.file),
  );
  app.get<{ Params: { file: string } }>('/console/client/:file', (request, reply) =>
    serve(request, reply, 'client', request.params.file),
  );
}

async function serve(
  request: FastifyRequest,
  reply: FastifyReply,
  folder: keyof typeof FOLDERS,
  name: string,
): Promise<FastifyReply> {
  const match = FILE_NAME.exec(name);
  const extension = match?.[1];
  if (!match || extension === undefined) throw new AppError('not_found');
  const url = new URL(name, FOLDERS[folder]);
  let body: Buffer;
  try {
    const info = await stat(url);
    if (!info.isFile()) throw new AppError('not_found');
    body = await readFile(url);
  } catch (error) {
    if (error instanceof AppError) throw error;
    const built = folder === 'console' && name === 'index.html' ? ' The console is not built: run `npm run build`.' : '';
    throw new AppError('not_found', `Not found.${built}`);
  }
  const etag = `"${createHash('sha1').update(body).digest('base64url')}"`;
  void reply
    .header('content-type', TYPES[extension] ?? 'application/octet-stream')
    .header('cache-control', 'no-cache')
    .header('etag', etag)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer');
  if (extension === 'html') void reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
  if (request.headers['if-none-match'] === etag) return reply.status(304).send();
  return reply.send(body);
}
