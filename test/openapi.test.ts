import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import Fastify from 'fastify';
import { errorCatalogue } from '../src/errors/error-catalogue.js';
import { brokerPlugin } from '../src/http/broker-plugin.js';
import { openApiDocument } from '../src/http/openapi/openapi-document.js';
import { request } from './helpers/api.js';
import { checkResponse } from './helpers/openapi-check.js';
import { startBroker, type TestBroker } from './helpers/start-broker.js';

describe('the OpenAPI document', () => {
  let b: TestBroker;
  before(async () => {
    b = await startBroker();
  });
  after(() => b.close());

  test('is valid OpenAPI 3.1 (a maintained validator) and is what GET /openapi.json serves', async () => {
    const doc = openApiDocument();
    const result = await new Validator().validate(doc as Parameters<Validator['validate']>[0]);
    assert.equal(result.valid, true, JSON.stringify(result.errors));
    assert.equal(doc.openapi, '3.1.0');
    const served = await request(b.url, 'GET', '/openapi.json');
    assert.equal(served.status, 200);
    assert.deepEqual(served.body, { ...doc, servers: [{ url: '/' }] });
  });

  test('describes every route Broker registers, and only those', async () => {
    const registered = new Set<string>();
    const app = Fastify();
    app.addHook('onRoute', (route) => {
      for (const method of [route.method].flat()) {
        // HEAD is Fastify's automatic twin of each GET; OPTIONS is the CORS preflight.
        if (method === 'HEAD' || method === 'OPTIONS') continue;
        registered.add(`${method} ${route.url.replace(/:([A-Za-z]+)/g, '{$1}')}`);
      }
    });
    await app.register(brokerPlugin, { deps: b.broker.core.deps, origins: ['*'] });
    await app.ready();
    await app.close();
    const documented = new Set<string>();
    for (const [path, item] of Object.entries(openApiDocument().paths as Record<string, object>)) {
      for (const method of Object.keys(item)) documented.add(`${method.toUpperCase()} ${path}`);
    }
    assert.deepEqual([...registered].sort(), [...documented].sort());
  });

  test('every error answer lists only catalogue codes under their own status', () => {
    for (const item of Object.values(openApiDocument().paths as Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: { properties?: { code?: { enum?: string[] } } } }> }> }>>)) {
      for (const op of Object.values(item)) {
        for (const [status, response] of Object.entries(op.responses)) {
          const codes = response.content?.['application/json']?.schema.properties?.code?.enum ?? [];
          for (const code of codes) {
            assert.ok(code in errorCatalogue, code);
            assert.equal(String(errorCatalogue[code as keyof typeof errorCatalogue].status), status, `${code} under ${status}`);
          }
        }
      }
    }
  });

  test('the response check used by every API test catches an undocumented status and a wrong body', () => {
    assert.throws(() => checkResponse('GET', '/health', 418, 'application/json', {}), /status 418 is not documented/);
    assert.throws(() => checkResponse('GET', '/health', 200, 'application/json', { status: 'ok' }), /does not match the OpenAPI document/);
    assert.throws(() => checkResponse('POST', '/insert', 200, 'application/json', { id: 5 }), /does not match/);
    checkResponse('GET', '/health', 200, 'application/json', { status: 'ok', subscribers: 0, storage: 'ok' });
  });
});
