import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { insert, type JsonResponse, nowSeconds, request, signUp } from './helpers/api.js';
import { expectError, unique } from './helpers/expect-error.js';
import { startBroker, type TestBroker, testEnv } from './helpers/start-broker.js';

const SECRET = testEnv('unused').SECRET ?? '';
const BODY_LIMIT = 256 * 1024;
const PASSWORD = 'correct horse battery';



const b64url = (text: string): string => Buffer.from(text, 'utf8').toString('base64url');

/** A JWT built by hand: any header, any claims, HMAC with the given hash and secret. */
function craftJwt(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  secret = SECRET,
  hash: 'sha256' | 'sha512' = 'sha256',
): string {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${createHmac(hash, secret).update(input).digest('base64url')}`;
}

describe('hostile and careless callers', () => {
  let b: TestBroker;
  let me: { id: string; token: string };
  before(async () => {
    b = await startBroker({ BODY_LIMIT: String(BODY_LIMIT) });
    me = await signUp(b.url);
  });
  after(() => b.close());

  const history = async (name: string): Promise<unknown> =>
    (await request(b.url, 'GET', `/events/${encodeURIComponent(name)}`, { token: me.token })).body;
  const postRaw = (path: string, rawBody: string, contentType = 'application/json', token?: string): Promise<JsonResponse> =>
    request(b.url, 'POST', path, { rawBody, token, headers: { 'content-type': contentType } });

  describe('tokens, on every authenticated endpoint', () => {
    test('a hand-made HS256 token with the right secret is accepted (the forgeries below are not)', async () => {
      const now = Math.floor(nowSeconds());
      const token = craftJwt({ alg: 'HS256', typ: 'JWT' }, { sub: me.id, company: '', iat: now, exp: now + 600 });
      const res = await request(b.url, 'POST', '/insert', { token, body: { event: unique('crafted'), data: 1 } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
    });

    test('missing, malformed, forged, wrong-algorithm, expired and oversized tokens are all a 401', async () => {
      const now = Math.floor(nowSeconds());
      const claims = { sub: me.id, company: '', iat: now, exp: now + 600 };
      const hs256 = { alg: 'HS256', typ: 'JWT' };
      const valid = craftJwt(hs256, claims);
      const [vh, , vs] = valid.split('.');
      const otherUser = await signUp(b.url);
      const authorizations: readonly [string, string | undefined][] = [
        ['no Authorization header', undefined],
        ['empty header', ''],
        ['Bearer and nothing', 'Bearer'],
        ['Bearer and spaces', 'Bearer    '],
        ['Basic credentials', `Basic ${Buffer.from(`x:${PASSWORD}`).toString('base64')}`],
        ['token without the Bearer scheme', valid],
        ['two tokens', `Bearer ${valid} ${valid}`],
        ['garbage', 'Bearer garbage'],
        ['three dots', 'Bearer a.b.c'],
        ['another secret', `Bearer ${craftJwt(hs256, claims, 'another-secret-another-secret-0123456')}`],
        ['alg none, no signature', `Bearer ${b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64url(JSON.stringify(claims))}.`],
        ['alg none, HS256 signature', `Bearer ${craftJwt({ alg: 'none', typ: 'JWT' }, claims)}`],
        ['HS512 with the right secret', `Bearer ${craftJwt({ alg: 'HS512', typ: 'JWT' }, claims, SECRET, 'sha512')}`],
        ['HS256 header, HS512 signature', `Bearer ${craftJwt(hs256, claims, SECRET, 'sha512')}`],
        ['expired a minute ago', `Bearer ${craftJwt(hs256, { ...claims, iat: now - 120, exp: now - 60 })}`],
        ['expired a second ago', `Bearer ${craftJwt(hs256, { ...claims, iat: now - 61, exp: now - 1 })}`],
        ['no exp', `Bearer ${craftJwt(hs256, { sub: me.id, company: '', iat: now })}`],
        ['no sub', `Bearer ${craftJwt(hs256, { company: '', iat: now, exp: now + 600 })}`],
        ['empty sub', `Bearer ${craftJwt(hs256, { ...claims, sub: '' })}`],
        ['sub swapped, old signature', `Bearer ${vh}.${b64url(JSON.stringify({ ...claims, sub: otherUser.id }))}.${vs}`],
        ['10 KB, correctly signed', `Bearer ${craftJwt(hs256, { ...claims, pad: 'x'.repeat(10 * 1024) })}`],
      ];
      const name = unique('tok');
      const pending = await insert(b.url, me.token, name, { pending: true }, nowSeconds() + 3600);
      const before = await history(name);
      const endpoints: readonly [string, string, unknown][] = [
        ['POST', '/insert', { event: name, data: 'forged' }],
        ['GET', `/events/${name}`, undefined],
        ['GET', `/events/${pending}/cancel`, undefined],
        ['POST', `/events/${pending}/cancel`, undefined],
      ];
      for (const [what, authorization] of authorizations) {
        for (const [method, path, body] of endpoints) {
          const headers: Record<string, string> = authorization === undefined ? {} : { authorization };
          const res = await request(b.url, method, path, { body, headers });
          expectError(res, 401, 'unauthorized', `${what}: ${method} ${path}`);
        }
      }
      assert.deepEqual(await history(name), before, 'nothing inserted, nothing cancelled');
    });
  });

  describe('request bodies', () => {
    const endpoints = ['/users', '/login', '/insert'];

    test('malformed JSON, non-objects, poisoned prototypes and oversized bodies, on every POST endpoint', async () => {
      const huge = `{"username":"x","password":"${'p'.repeat(BODY_LIMIT)}","event":"x","data":1}`;
      const usersBefore = await request(b.url, 'POST', '/login', { body: { username: 'x', password: PASSWORD } });
      expectError(usersBefore, 401, 'invalid_credentials', 'no user "x" yet');
      for (const path of endpoints) {
        const what = (s: string): string => `${path} ${s}`;
        expectError(await postRaw(path, '{"username":', 'application/json', me.token), 400, 'invalid_json', what('truncated'));
        expectError(await postRaw(path, '', 'application/json', me.token), 400, 'invalid_json', what('empty'));
        for (const raw of ['[]', 'null', '"text"', '12', 'false']) {
          expectError(await postRaw(path, raw, 'application/json', me.token), 400, 'invalid_input', what(raw));
        }
        for (const raw of [
          '{"username":"x","password":"p","event":"x","data":1,"__proto__":{"isAdmin":true}}',
          '{"username":"x","password":"p","event":"x","data":1,"info":{"constructor":{"prototype":{"isAdmin":true}}}}',
        ]) {
          expectError(await postRaw(path, raw, 'application/json', me.token), 400, 'invalid_json', what('proto'));
        }
        expectError(await postRaw(path, huge, 'application/json', me.token), 413, 'payload_too_large', what('huge'));
        expectError(await postRaw(path, 'a=1', 'application/x-www-form-urlencoded', me.token), 415, 'unsupported_media_type', what('form'));
        expectError(await postRaw(path, '<a/>', 'application/xml', me.token), 415, 'unsupported_media_type', what('xml'));
      }
      assert.equal((Object.prototype as Record<string, unknown>).isAdmin, undefined, 'no prototype pollution');
      // Nothing above created the user "x".
      expectError(await request(b.url, 'POST', '/login', { body: { username: 'x', password: 'p' } }), 401, 'invalid_credentials');
    });

    test('a JSON body sent as text/plain is a 415 on every POST endpoint, never parsed', async () => {
      const username = unique('plain');
      const json = JSON.stringify({ username, password: PASSWORD, event: unique('plain'), data: 1 });
      for (const path of endpoints) {
        expectError(await postRaw(path, json, 'text/plain', me.token), 415, 'unsupported_media_type', `${path} text/plain`);
      }
    });

    test('a chunked body without Content-Length is cut off at the limit with a 413', async () => {
      const chunk = new TextEncoder().encode(`"${'x'.repeat(64 * 1024)}",`);
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent === 0) controller.enqueue(new TextEncoder().encode('{"event":"chunked","data":['));
          if (sent > 4 * BODY_LIMIT) {
            controller.enqueue(new TextEncoder().encode('1]}'));
            controller.close();
            return;
          }
          sent += chunk.length;
          controller.enqueue(chunk);
        },
      });
      const init = {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${me.token}` },
        body,
        duplex: 'half',
      } as RequestInit;
      const res = await fetch(`${b.url}/insert`, init).catch((error: unknown) => error);
      if (res instanceof Response) {
        const text = await res.text();
        expectError({ status: res.status, headers: res.headers, body: JSON.parse(text) as unknown }, 413, 'payload_too_large');
      } else {
        // The server may answer and close before the client finished sending; then fetch fails.
        assert.ok(res instanceof Error, String(res));
      }
      assert.deepEqual(await history('chunked'), []);
    });

    test('deeply nested JSON (within the body limit) is a 400, not a 500', async () => {
      const depth = 100_000;
      const nested = `${'['.repeat(depth)}${']'.repeat(depth)}`;
      const name = unique('deep');
      const ins = await postRaw('/insert', `{"event":"${name}","data":${nested}}`, 'application/json', me.token);
      expectError(ins, 400, 'invalid_input', 'deep data');
      const user = await postRaw('/users', `{"username":"${unique('deep')}","password":"${PASSWORD}","info":${nested}}`);
      expectError(user, 400, 'invalid_input', 'deep info');
      assert.deepEqual(await history(name), []);
      assert.equal((await request(b.url, 'GET', '/health')).status, 200, 'still healthy');
    });

    test('fields a client may not set (id, user_id, published, cancelled) are ignored', async () => {
      const name = unique('forge');
      const other = await signUp(b.url);
      const res = await request(b.url, 'POST', '/insert', {
        token: me.token,
        body: {
          event: name,
          timestamp: nowSeconds() + 3600,
          data: 'mine',
          id: '00000000-0000-4000-8000-000000000000',
          user_id: other.id,
          published: true,
          cancelled: true,
          seq: 1,
        },
      });
      assert.equal(res.status, 200);
      const id = (res.body as { id: string }).id;
      assert.notEqual(id, '00000000-0000-4000-8000-000000000000');
      const list = (await history(name)) as { id: string; user_id: string; published: boolean; cancelled: boolean }[];
      assert.deepEqual(
        list.map((e) => [e.id, e.user_id, e.published, e.cancelled]),
        [[id, me.id, false, false]],
      );
      // And the other user cannot cancel it although the body claimed it was theirs.
      expectError(await request(b.url, 'POST', `/events/${id}/cancel`, { token: other.token }), 403, 'forbidden');
    });

    test('an event name that is not well-formed Unicode (lone surrogate) is a 400', async () => {
      // Such a name could never be asked for again: encodeURIComponent throws on it, and its
      // UTF-8 bytes are invalid, so neither GET /events/{event} nor ?event= could reach it.
      assert.throws(() => encodeURIComponent('x\ud800'));
      for (const event of ['x\ud800', '\udc00y', 'a\udbffb']) {
        const res = await request(b.url, 'POST', '/insert', { token: me.token, body: { event, data: 1 } });
        assert.match(expectError(res, 400, 'invalid_input', JSON.stringify(event)), /event/);
      }
    });

    test('names that are Object.prototype keys are ordinary names', async () => {
      for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'prototype']) {
        const id = await insert(b.url, me.token, name, { name });
        const list = (await history(name)) as { id: string; event: string; data: unknown }[];
        assert.deepEqual(
          list.map((e) => [e.id, e.event, e.data]),
          [[id, name, { name }]],
          name,
        );
        const username = `${name}${unique('')}`;
        const created = await request(b.url, 'POST', '/users', { body: { username, password: PASSWORD } });
        assert.equal(created.status, 200, username);
        assert.equal((await request(b.url, 'POST', '/login', { body: { username, password: PASSWORD } })).status, 200);
      }
    });
  });

  describe('URLs and query strings', () => {
    test('malformed percent-encoding in the path is a 400 in the standard error shape', async () => {
      for (const path of ['/events/%ZZ', '/events/%E0%A4%A', '/events/%ZZ/cancel', '/events/a%/cancel']) {
        for (const method of path.endsWith('cancel') ? ['GET', 'POST'] : ['GET']) {
          const res = await request(b.url, method, path, { token: me.token });
          expectError(res, 400, 'invalid_input', `${method} ${path}`);
        }
      }
    });

    test('over-long event names in the path are a 400 in the standard error shape', async () => {
      for (const length of [257, 5000]) {
        const res = await request(b.url, 'GET', `/events/${'n'.repeat(length)}`, { token: me.token });
        assert.match(expectError(res, 400, 'invalid_input', `${length} chars`), /event/);
      }
    });

    test('control characters in a history name are a 400; odd but legal names are just names', async () => {
      for (const encoded of ['%00', 'a%0Ab', 'a%0D%0Ab', '%7F', 'a%C2%85']) {
        const res = await request(b.url, 'GET', `/events/${encoded}`, { token: me.token });
        assert.match(expectError(res, 400, 'invalid_input', encoded), /event/);
      }
      for (const encoded of ['..%2F..%2Fetc%2Fpasswd', '..%2F', 'x%20OR%201%3D1', "'%3B%20DROP%20TABLE%20events%3B--"]) {
        const res = await request(b.url, 'GET', `/events/${encoded}`, { token: me.token });
        assert.equal(res.status, 200, `${encoded}: ${JSON.stringify(res.body)}`);
        assert.deepEqual(res.body, []);
      }
      // A name that looks like SQL is stored and read back as text.
      const sqlish = "x'); DELETE FROM events; --";
      const id = await insert(b.url, me.token, sqlish, 1);
      assert.deepEqual(
        ((await history(sqlish)) as { id: string }[]).map((e) => e.id),
        [id],
      );
    });

    test('garbage cancel ids are a 404, never a 500', async () => {
      for (const id of ['%00', 'x'.repeat(100), "'%20OR%20'1'%3D'1", '%F0%9F%8E%89', '..%2F..']) {
        for (const method of ['GET', 'POST']) {
          const res = await request(b.url, method, `/events/${id}/cancel`, { token: me.token });
          expectError(res, 404, 'not_found', `${method} ${id}`);
        }
      }
    });

    test('odd limit and after values are a 400; unknown query parameters are ignored', async () => {
      const name = unique('query');
      await insert(b.url, me.token, name, 1, 50);
      for (const q of [
        'limit=1e3',
        'limit=0x10',
        'limit=%2B1',
        'limit=%201',
        'limit=1%20',
        'limit=99999999999',
        'limit=NaN',
        'limit=Infinity',
        'limit=1&limit=1',
        'after=%00',
      ]) {
        const res = await request(b.url, 'GET', `/events/${name}?${q}`, { token: me.token });
        expectError(res, 400, 'invalid_input', q);
      }
      const res = await request(b.url, 'GET', `/events/${name}?foo=bar&limit=5&&=&x&limit[]=0&after[]=x`, { token: me.token });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal((res.body as unknown[]).length, 1);
    });
  });

  describe('sign-up and login', () => {
    test('a password of NUL characters does not make the empty password work', async () => {
      // bcrypt sees a password as bytes followed by a NUL, repeated: "\0" × 8 hashes like "".
      const username = unique('nul');
      const created = await request(b.url, 'POST', '/users', { body: { username, password: '\u0000'.repeat(8) } });
      assert.ok(created.status === 200 || created.status === 400, `sign-up: ${created.status}`);
      for (const password of ['', '\u0000']) {
        const res = await request(b.url, 'POST', '/login', { body: { username, password } });
        expectError(res, 401, 'invalid_credentials', `login with ${JSON.stringify(password)}`);
      }
    });

    test('a very long username at login is a plain 401', async () => {
      const res = await request(b.url, 'POST', '/login', { body: { username: 'u'.repeat(100_000), password: PASSWORD } });
      expectError(res, 401, 'invalid_credentials');
    });

    test('spoofed X-Forwarded-For does not escape the per-IP limit (TRUST_PROXY off)', async () => {
      const rl = await startBroker({ LOGIN_RATE_LIMIT: '3' });
      try {
        for (let i = 1; i <= 6; i++) {
          const res = await request(rl.url, 'POST', '/login', {
            body: { username: `name${i}`, password: PASSWORD },
            headers: { 'x-forwarded-for': `203.0.113.${i}`, 'x-real-ip': `203.0.113.${i}` },
          });
          if (i <= 3) expectError(res, 401, 'invalid_credentials', `attempt ${i}`);
          else expectError(res, 429, 'rate_limited', `attempt ${i}`);
        }
      } finally {
        await rl.close();
      }
    });
  });
});
