import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { errorCatalogue } from '../src/errors/error-catalogue.js';
import { insert, type JsonResponse, metrics, metricValue, nowSeconds, request, signUp, until } from './helpers/api.js';
import { SseClient } from './helpers/sse-client.js';
import { expectError, unique } from './helpers/expect-error.js';
import { startBroker, type TestBroker } from './helpers/start-broker.js';

type ErrorCode = keyof typeof errorCatalogue;



interface RawResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** A request over node:http, which sends any Origin header we like (as a browser would). */
function raw(url: string, method: string, headers: Record<string, string>): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const list = (value: string | string[] | undefined): string[] =>
  String(value ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');

const preflight = (url: string, origin: string, method = 'POST'): Promise<RawResponse> =>
  raw(url, 'OPTIONS', {
    origin,
    'access-control-request-method': method,
    'access-control-request-headers': 'authorization,content-type',
  });

describe('unknown routes', () => {
  let b: TestBroker;
  before(async () => {
    b = await startBroker();
  });
  after(() => b.close());

  test('are a 404 with a JSON body {"error", "code": "route_not_found"}', async () => {
    const routes: readonly [string, string][] = [
      ['GET', '/'],
      ['GET', '/nope'],
      ['POST', '/nope'],
      ['GET', '/users'],
      ['GET', '/login'],
      ['GET', '/insert'],
      ['DELETE', '/insert'],
      ['PUT', '/events/x'],
      ['POST', '/events/x'],
      ['GET', '/events/a/b/c'],
      ['DELETE', '/events/00000000-0000-4000-8000-000000000000/cancel'],
      ['GET', '/health/x'],
      ['POST', '/health'],
      ['GET', '/metrics.json'],
    ];
    for (const [method, path] of routes) {
      expectError(await request(b.url, method, path), 404, 'route_not_found', `${method} ${path}`);
    }
  });
});

describe('CORS with listed origins', () => {
  let b: TestBroker;
  const origins = ['https://a.example', 'https://b.example'];
  before(async () => {
    b = await startBroker({ ORIGIN: origins.join(',') });
  });
  after(() => b.close());

  test('a preflight from a listed origin is allowed, with Authorization, and echoes that origin', async () => {
    for (const origin of origins) {
      for (const path of ['/insert', '/users', '/login', '/events/x', '/events/some-id/cancel', '/events']) {
        const res = await preflight(`${b.url}${path}`, origin, path.startsWith('/events') ? 'GET' : 'POST');
        const what = `${origin} ${path}`;
        assert.ok(res.status >= 200 && res.status < 300, `${what}: ${res.status}`);
        assert.equal(res.headers['access-control-allow-origin'], origin, what);
        assert.ok(list(res.headers['access-control-allow-headers']).includes('authorization'), what);
        assert.ok(list(res.headers['access-control-allow-headers']).includes('content-type'), what);
        assert.ok(list(res.headers['access-control-allow-methods']).includes('post'), what);
        assert.ok(list(res.headers.vary).includes('origin'), `${what}: Vary: Origin, caches must not mix origins`);
      }
    }
  });

  test('actual responses (success and error) carry the origin and expose X-Next-After', async () => {
    for (const path of ['/health', '/nope']) {
      const res = await raw(`${b.url}${path}`, 'GET', { origin: 'https://b.example' });
      assert.equal(res.headers['access-control-allow-origin'], 'https://b.example', path);
      assert.ok(list(res.headers['access-control-expose-headers']).includes('x-next-after'), path);
    }
  });

  test('an unlisted origin gets no Access-Control-Allow-Origin', async () => {
    for (const origin of [
      'https://evil.example',
      'http://a.example',
      'https://a.example.evil.example',
      'https://a.example:8443',
      'null',
    ]) {
      const pre = await preflight(`${b.url}/insert`, origin);
      assert.equal(pre.headers['access-control-allow-origin'], undefined, `preflight ${origin}`);
      const get = await raw(`${b.url}/health`, 'GET', { origin });
      assert.equal(get.headers['access-control-allow-origin'], undefined, `GET ${origin}`);
      assert.equal(get.status, 200, 'the server still answers; the browser enforces CORS');
    }
  });
});

describe('CORS with the default ORIGIN (*)', () => {
  test('any origin gets Access-Control-Allow-Origin: *', async () => {
    const b = await startBroker();
    try {
      for (const origin of ['https://anything.example', 'http://localhost:3000']) {
        const pre = await preflight(`${b.url}/insert`, origin);
        assert.ok(pre.status >= 200 && pre.status < 300, String(pre.status));
        assert.equal(pre.headers['access-control-allow-origin'], '*');
        assert.ok(list(pre.headers['access-control-allow-headers']).includes('authorization'));
        const get = await raw(`${b.url}/health`, 'GET', { origin });
        assert.equal(get.headers['access-control-allow-origin'], '*');
        // Browsers refuse credentials with *, so it must not be claimed.
        assert.notEqual(get.headers['access-control-allow-credentials'], 'true');
      }
    } finally {
      await b.close();
    }
  });
});

describe('GET /health and GET /metrics', () => {
  let b: TestBroker;
  let token: string;
  before(async () => {
    b = await startBroker();
    token = (await signUp(b.url)).token;
  });
  after(() => b.close());

  test('/health is a 200 {"status": "ok", "subscribers": n} that counts open streams', async () => {
    const health = async (): Promise<JsonResponse> => request(b.url, 'GET', '/health');
    const first = await health();
    assert.equal(first.status, 200);
    assert.match(String(first.headers.get('content-type')), /^application\/json/);
    assert.deepEqual(first.body, { status: 'ok', subscribers: 0, storage: 'ok' });
    const stream = await SseClient.connect(`${b.url}/events`);
    try {
      await stream.waitFor(() => stream.frames.length >= 1, 5000, 'retry frame');
      assert.deepEqual((await health()).body, { status: 'ok', subscribers: 1, storage: 'ok' });
    } finally {
      stream.close();
    }
    await until(health, (r) => (r.body as { subscribers: number }).subscribers === 0, 'the closed stream to be reclaimed');
  });

  test('/metrics is Prometheus text with the broker_ metrics of the right types', async () => {
    const res = await request(b.url, 'GET', '/metrics');
    assert.equal(res.status, 200);
    assert.match(String(res.headers.get('content-type')), /^text\/plain; version=0\.0\.4/);
    const text = String(res.body);
    for (const [name, type] of [
      ['broker_subscribers', 'gauge'],
      ['broker_inserts_total', 'counter'],
      ['broker_releases_total', 'counter'],
      ['broker_release_lateness_seconds', 'histogram'],
      ['broker_dropped_subscribers_total', 'counter'],
    ] as const) {
      assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), name);
      assert.match(text, new RegExp(`^# HELP ${name} \\S`, 'm'), name);
    }
    assert.match(text, /^broker_release_lateness_seconds_bucket\{le="\+Inf"\} \d+$/m);
    // Every sample line is "name{labels} number".
    for (const line of text.split('\n').filter((l) => l !== '' && !l.startsWith('#'))) {
      assert.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/, line);
    }
  });

  test("/metrics has Node's default metrics, with real event-loop lag values from the first scrape on", async () => {
    // A fresh server: its lag monitor starts with the first scrape, not before.
    const fresh = await startBroker();
    try {
      const text = String((await request(fresh.url, 'GET', '/metrics')).body);
      for (const name of ['nodejs_eventloop_lag_p99_seconds', 'nodejs_eventloop_lag_min_seconds']) {
        const value = metricValue(text, name);
        // 10 ms resolution: an idle loop reads about 0.01 s; an empty histogram would read 0 or 9.2e9.
        assert.ok(value > 0.001 && value < 1, `${name} = ${value}`);
      }
      assert.match(text, /^process_cpu_seconds_total \d/m);
      assert.match(text, /^nodejs_heap_size_used_bytes \d/m);
    } finally {
      await fresh.close();
    }
  });

  test('counters move: inserts at once, releases and lateness when a future event falls due, subscribers live', async () => {
    const before = await metrics(b.url);
    const inserts0 = metricValue(before, 'broker_inserts_total');
    const releases0 = metricValue(before, 'broker_releases_total');
    const lateness0 = metricValue(before, 'broker_release_lateness_seconds_count');
    const name = unique('metrics');
    await insert(b.url, token, name, 1);
    assert.equal(metricValue(await metrics(b.url), 'broker_inserts_total'), inserts0 + 1);
    // Due shortly after its insert (0.5 s of margin for a busy machine): it has a lateness.
    await insert(b.url, token, name, 2, nowSeconds() + 0.5);
    await insert(b.url, token, name, 3, nowSeconds() + 3600);
    assert.equal(metricValue(await metrics(b.url), 'broker_inserts_total'), inserts0 + 3);
    const after = await until(
      () => metrics(b.url),
      (t) => metricValue(t, 'broker_releases_total') === releases0 + 2,
      'two releases',
    );
    // Only the event inserted ahead of its time has a lateness; the one for now + 1 h is not due.
    assert.equal(metricValue(after, 'broker_release_lateness_seconds_count'), lateness0 + 1);
    const stream = await SseClient.connect(`${b.url}/events?event=${name}`);
    try {
      await stream.waitForEvents(1);
      assert.equal(metricValue(await metrics(b.url), 'broker_subscribers'), 1);
    } finally {
      stream.close();
    }
    assert.equal(metricValue(await metrics(b.url), 'broker_dropped_subscribers_total'), 0);
  });
});

describe('error bodies', () => {
  test('every error is {"error": message, "code": catalogue code} with the catalogue status, no internals', async () => {
    const b = await startBroker({ LOGIN_RATE_LIMIT: '8', BODY_LIMIT: '2048', MAX_SUBSCRIBERS: '1' });
    const seen = new Set<ErrorCode>();
    const check = (res: JsonResponse, status: number, code: ErrorCode, what: string): void => {
      expectError(res, status, code, what);
      seen.add(code);
    };
    const stream = await SseClient.connect(`${b.url}/events`);
    try {
      const me = await signUp(b.url, 'erin'); // 2 attempts of 8
      const other = await signUp(b.url, 'frank'); // 4 of 8
      const json = { 'content-type': 'application/json' };
      check(await request(b.url, 'POST', '/insert', { rawBody: '{', headers: json }), 400, 'invalid_json', 'bad JSON');
      check(await request(b.url, 'POST', '/insert', { token: me.token, body: { data: 1 } }), 400, 'invalid_input', 'no event');
      const keyed = { token: me.token, headers: { 'idempotency-key': 'k-1' } };
      assert.equal((await request(b.url, 'POST', '/insert', { ...keyed, body: { event: 'x', data: 1 } })).status, 200);
      check(await request(b.url, 'POST', '/insert', { ...keyed, body: { event: 'x', data: 2 } }), 422, 'idempotency_conflict', 'key reused');
      check(await request(b.url, 'GET', '/events/x?limit=0', { token: me.token }), 400, 'invalid_input', 'limit=0');
      check(await request(b.url, 'POST', '/insert', { body: { event: 'x', data: 1 } }), 401, 'unauthorized', 'no token');
      check(await request(b.url, 'POST', '/login', { body: { username: 'erin', password: 'wrong password' } }), 401, 'invalid_credentials', 'login'); // 5 of 8
      const theirs = await insert(b.url, other.token, 'x', 1, nowSeconds() + 3600);
      check(await request(b.url, 'GET', `/events/${theirs}/cancel`, { token: me.token }), 403, 'forbidden', 'not mine');
      check(await request(b.url, 'GET', `/events/${unique('id')}/cancel`, { token: me.token }), 404, 'not_found', 'no id');
      check(await request(b.url, 'GET', '/no/such/route'), 404, 'route_not_found', 'route');
      check(await request(b.url, 'POST', '/users', { body: { username: 'ERIN', password: 'whatever123' } }), 409, 'username_taken', 'taken'); // 6 of 8
      const rootId = await b.broker.core.deps.users.create({ username: 'root', password: 'correct horse battery', info: null, roles: ['admin'] });
      const root = await request(b.url, 'POST', '/login', { body: { username: 'root', password: 'correct horse battery' } }); // 7 of 8
      const rootToken = (root.body as { jwt: string }).jwt;
      check(await request(b.url, 'PATCH', `/admin/users/${rootId}`, { token: rootToken, body: { roles: [] } }), 400, 'last_admin', 'last admin');
      assert.equal((await request(b.url, 'PATCH', `/admin/users/${other.id}`, { token: rootToken, body: { disabled: true } })).status, 200);
      check(await request(b.url, 'POST', '/login', { body: { username: 'frank', password: 'correct horse battery' } }), 403, 'user_disabled', 'disabled'); // 8 of 8
      const past = await insert(b.url, me.token, 'x', 1, 1);
      await until(
        () => request(b.url, 'GET', '/events/x', { token: me.token }),
        (r) => (r.body as { id: string; published: boolean }[]).some((e) => e.id === past && e.published),
        'release of the past event',
      );
      check(await request(b.url, 'POST', `/events/${past}/cancel`, { token: me.token }), 409, 'already_released', 'released');
      const mine = await insert(b.url, me.token, 'x', 1, nowSeconds() + 3600);
      assert.equal((await request(b.url, 'POST', `/events/${mine}/cancel`, { token: me.token })).status, 200);
      check(await request(b.url, 'POST', `/events/${mine}/cancel`, { token: me.token }), 409, 'already_cancelled', 'twice');
      check(
        await request(b.url, 'POST', '/insert', { token: me.token, body: { event: 'x', data: 'y'.repeat(4096) } }),
        413,
        'payload_too_large',
        'too large',
      );
      check(
        await request(b.url, 'POST', '/insert', { token: me.token, rawBody: 'event=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
        415,
        'unsupported_media_type',
        'form body',
      );
      check(await request(b.url, 'POST', '/login', { body: { username: 'erin', password: 'correct horse battery' } }), 429, 'rate_limited', '9th attempt');
      await stream.waitFor(() => stream.frames.length >= 1, 5000, 'retry frame');
      const full = await request(b.url, 'GET', '/events');
      check(full, 503, 'too_many_subscribers', 'second stream with MAX_SUBSCRIBERS=1');
      assert.equal(full.headers.get('retry-after'), '5');
    } finally {
      stream.close();
      await b.close();
    }
    // The per-address cap needs a node with room left: one of its own.
    const capped = await startBroker({ MAX_STREAMS_PER_IP: '1' });
    const first = await SseClient.connect(`${capped.url}/events`);
    try {
      await first.waitFor(() => first.frames.length >= 1, 5000, 'retry frame');
      const second = await request(capped.url, 'GET', '/events');
      check(second, 429, 'too_many_streams', 'second stream from one address with MAX_STREAMS_PER_IP=1');
      assert.ok(Number(second.headers.get('retry-after')) > 0);
    } finally {
      first.close();
      await capped.close();
    }
    // Every code of the catalogue a caller can provoke on purpose (not internal, unavailable, or
    // method_not_allowed, which Broker never sends: an unknown method is an unknown route; and not
    // storage_full, which takes a full disk: test/storage-faults.test.ts provokes it).
    const expected = Object.keys(errorCatalogue).filter(
      (c) => !['internal', 'unavailable', 'method_not_allowed', 'storage_full'].includes(c),
    );
    assert.deepEqual([...seen].sort(), expected.sort());
  });
});
