import assert from 'node:assert/strict';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { openApiDocument } from '../../src/http/openapi/openapi-document.js';

type Json = Record<string, unknown>;
type Check = (body: unknown) => boolean;

interface Operation {
  readonly pattern: RegExp;
  readonly path: string;
  readonly method: string;
  readonly responses: Json;
}

let operations: Operation[] | undefined;
const ajv = new Ajv2020({ strict: false, allErrors: false });
const compiled = new WeakMap<object, Check>();

function ops(): Operation[] {
  if (operations) return operations;
  const doc = openApiDocument();
  operations = [];
  for (const [path, item] of Object.entries(doc.paths as Json)) {
    const pattern = new RegExp(`^${path.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]*')}$`);
    for (const [method, op] of Object.entries(item as Json)) {
      operations.push({ pattern, path, method: method.toUpperCase(), responses: (op as { responses: Json }).responses });
    }
  }
  return operations;
}

/** Responses checked so far, by `METHOD path status` (for the coverage report of the OpenAPI test). */
export const checkedResponses = new Set<string>();

/**
 * Checks a JSON answer of the API against the OpenAPI document: its status must be documented
 * for the operation, and its body must match the documented schema. Called by `request()`, so
 * every API test checks the document too. Paths no operation matches must be `route_not_found`.
 */
export function checkResponse(method: string, path: string, status: number, contentType: string | null, body: unknown): void {
  if (!contentType?.startsWith('application/json')) return;
  const bare = (path.split('?')[0] ?? '').replace(/\/{2,}/g, '/');
  const candidates = ops().filter((o) => o.pattern.test(bare));
  const op = candidates.find((o) => o.method === method) ?? (method === 'HEAD' ? candidates.find((o) => o.method === 'GET') : undefined);
  if (!op) {
    // No such route (or method): the router's 404, in the error shape.
    assert.equal((body as { code?: unknown }).code, 'route_not_found', `${method} ${bare} is not in the OpenAPI document but answered ${status}`);
    return;
  }
  const response = op.responses[String(status)] as { content?: Record<string, { schema: Json }> } | undefined;
  assert.ok(response, `${method} ${op.path}: status ${status} is not documented (${JSON.stringify(body).slice(0, 200)})`);
  const schema = response.content?.['application/json']?.schema;
  assert.ok(schema, `${method} ${op.path} ${status}: no JSON schema documented`);
  let check = compiled.get(schema);
  if (!check) {
    check = ajv.compile(schema) as Check;
    compiled.set(schema, check);
  }
  const valid = check(body);
  assert.ok(
    valid,
    `${method} ${op.path} ${status}: the answer does not match the OpenAPI document: ${ajv.errorsText((check as { errors?: unknown }).errors as never)} in ${JSON.stringify(body).slice(0, 300)}`,
  );
  checkedResponses.add(`${method} ${op.path} ${status}`);
}
