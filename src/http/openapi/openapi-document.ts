import { readFileSync } from 'node:fs';
import type { TSchema } from 'typebox';
import { type ErrorCode, errorCatalogue } from '../../errors/error-catalogue.js';
import { type RouteSpec, routeSpecs } from './route-specs.js';

/** Errors any POST or PATCH may answer, whatever its body: the JSON parser's and the size limit's. */
const BODY_ERRORS: readonly ErrorCode[] = ['invalid_json', 'unsupported_media_type', 'payload_too_large'];

type Json = Record<string, unknown>;

/** A typebox schema as plain JSON Schema (typebox keeps its own keys on symbols, which JSON drops). */
function schema(s: TSchema): Json {
  return JSON.parse(JSON.stringify(s)) as Json;
}

const errorBody = (codes: readonly ErrorCode[]): Json => ({
  type: 'object',
  required: ['error', 'code'],
  additionalProperties: false,
  properties: {
    error: { type: 'string', description: 'A message for people; branch on `code`.' },
    code: { type: 'string', enum: [...codes] },
  },
});

function operation(route: RouteSpec): Json {
  const responses: Json = {};
  for (const ok of route.success) {
    if ('json' in ok) {
      const headers: Json = {};
      for (const h of ok.headers ?? []) headers[h] = { schema: { type: 'string' } };
      responses[String(ok.status)] = {
        description: 'OK',
        ...(Object.keys(headers).length > 0 ? { headers } : {}),
        content: { 'application/json': { schema: schema(ok.json) } },
      };
    } else {
      const body = ok.media === 'application/json' ? { type: 'object' } : { type: 'string' };
      responses[String(ok.status)] = { description: ok.description, content: { [ok.media]: { schema: body } } };
    }
  }
  // Every error code this route can answer, grouped by status (docs/errors.md says when). Any
  // route may answer `invalid_input` for a malformed URL (the router's) and `internal`.
  const codes = new Set<ErrorCode>([...route.errors, 'invalid_input', 'internal']);
  if (route.method === 'POST' || route.method === 'PATCH') for (const c of BODY_ERRORS) codes.add(c);
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) {
    const status = errorCatalogue[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  for (const [status, list] of [...byStatus].sort(([a], [b]) => a - b)) {
    const retry = list.some((c) => c === 'rate_limited' || c === 'too_many_streams' || c === 'too_many_subscribers');
    responses[String(status)] = {
      description: list.map((c) => `\`${c}\`: ${errorCatalogue[c].message}`).join(' '),
      ...(retry ? { headers: { 'Retry-After': { schema: { type: 'string' }, description: 'Seconds.' } } } : {}),
      content: { 'application/json': { schema: errorBody(list) } },
    };
  }
  const op: Json = {
    operationId: `${route.method.toLowerCase()}${route.path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`,
    summary: route.summary,
    tags: [route.tag],
    responses,
  };
  if (route.auth === 'bearer') op.security = [{ bearer: [] }];
  if (route.auth === 'optional') op.security = [{}, { bearer: [] }, { cookie: [] }];
  if (route.params && route.params.length > 0) {
    op.parameters = route.params.map((p) => ({
      name: p.name,
      in: p.in,
      description: p.description,
      required: p.required ?? false,
      schema: schema(p.schema),
      ...(p.in === 'query' && p.name === 'event' ? { style: 'form', explode: true } : {}),
    }));
  }
  if (route.body) op.requestBody = { required: true, content: { 'application/json': { schema: schema(route.body) } } };
  return op;
}

let cached: Json | undefined;

/** The OpenAPI 3.1 document of the API, generated from the route specs and the error catalogue. */
export function openApiDocument(): Json {
  if (cached) return cached;
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string; description: string };
  const paths: Json = {};
  for (const route of routeSpecs) {
    const item = (paths[route.path] ??= {}) as Json;
    item[route.method.toLowerCase()] = operation(route);
  }
  cached = {
    openapi: '3.1.0',
    info: {
      title: 'Broker',
      version: pkg.version,
      description: `${pkg.description} Errors are {"error", "code"} (docs/errors.md). When Broker is mounted under a prefix, the paths are below it.`,
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: '/' }],
    tags: ['users', 'events', 'stream', 'admin', 'operations', 'console'].map((name) => ({ name })),
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        cookie: { type: 'apiKey', in: 'cookie', name: 'access_token' },
      },
    },
    paths,
  };
  return cached;
}
