import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { insert, type JsonResponse, nowSeconds, request } from './helpers/api.js';
import { expectError, unique } from './helpers/expect-error.js';
import { startBroker, type TestBroker, testEnv } from './helpers/start-broker.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SECRET = testEnv('unused').SECRET ?? '';
const EXPIRY = 5400;
const MIN_LENGTH = 10;
const PASSWORD = 'correct horse battery';



interface JwtParts {
  readonly header: Record<string, unknown>;
  readonly payload: Record<string, unknown>;
  readonly signingInput: string;
  readonly signature: string;
}

function decodeJwt(token: string): JwtParts {
  const parts = token.split('.');
  assert.equal(parts.length, 3, `a JWT has three parts: ${token}`);
  const [h, p, s] = parts as [string, string, string];
  const json = (part: string): Record<string, unknown> =>
    JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
  return { header: json(h), payload: json(p), signingInput: `${h}.${p}`, signature: s };
}

const createUser = (base: string, body: unknown, headers?: Record<string, string>): Promise<JsonResponse> =>
  request(base, 'POST', '/users', { body, headers });
const login = (base: string, body: unknown, headers?: Record<string, string>): Promise<JsonResponse> =>
  request(base, 'POST', '/login', { body, headers });

describe('POST /users', () => {
  let b: TestBroker;
  before(async () => {
    b = await startBroker({ EXPIRY: String(EXPIRY), PASSWORD_MIN_LENGTH: String(MIN_LENGTH) });
  });
  after(() => b.close());

  test('creates a user and returns exactly {"id": uuid} with status 200', async () => {
    const res = await createUser(b.url, { username: unique('new'), password: PASSWORD, info: { role: 'x' } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.match(String(res.headers.get('content-type')), /^application\/json/);
    assert.deepEqual(Object.keys(res.body as object), ['id']);
    assert.match((res.body as { id: string }).id, UUID);
    const again = await createUser(b.url, { username: unique('new'), password: PASSWORD, info: {} });
    assert.notEqual((again.body as { id: string }).id, (res.body as { id: string }).id, 'ids differ');
  });

  test('info may be any JSON value, or omitted', async () => {
    const infos: readonly unknown[] = [{ a: { b: [1, 2] } }, [1, 'two', null], null, 'text', 42, true, {}];
    for (const info of infos) {
      const res = await createUser(b.url, { username: unique('info'), password: PASSWORD, info });
      assert.equal(res.status, 200, `info ${JSON.stringify(info)}: ${JSON.stringify(res.body)}`);
      assert.match((res.body as { id: string }).id, UUID);
    }
    const omitted = await createUser(b.url, { username: unique('noinfo'), password: PASSWORD });
    assert.equal(omitted.status, 200, JSON.stringify(omitted.body));
  });

  test('usernames are unique ignoring letter case (and Unicode normalisation)', async () => {
    const base = unique('Alice');
    const first = await createUser(b.url, { username: base, password: PASSWORD, info: null });
    assert.equal(first.status, 200);
    for (const variant of [base, base.toLowerCase(), base.toUpperCase()]) {
      const res = await createUser(b.url, { username: variant, password: PASSWORD, info: null });
      expectError(res, 409, 'username_taken', variant);
    }
    // "José" precomposed and with a combining accent are the same name.
    const suffix = unique('');
    const composed = await createUser(b.url, { username: `Jos\u00e9${suffix}`, password: PASSWORD });
    assert.equal(composed.status, 200);
    const decomposed = await createUser(b.url, { username: `jose\u0301${suffix}`, password: PASSWORD });
    expectError(decomposed, 409, 'username_taken', 'decomposed é');
  });

  test('concurrent sign-ups of one name (in different cases): exactly one succeeds', async () => {
    const name = unique('Race');
    const variants = Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? name.toUpperCase() : name.toLowerCase()));
    const results = await Promise.all(variants.map((username) => createUser(b.url, { username, password: PASSWORD })));
    const ok = results.filter((r) => r.status === 200);
    assert.equal(ok.length, 1, `statuses ${results.map((r) => r.status).join(',')}`);
    for (const r of results.filter((x) => x.status !== 200)) expectError(r, 409, 'username_taken');
    // The winner can log in under any case.
    const res = await login(b.url, { username: name, password: PASSWORD });
    assert.equal(res.status, 200);
    assert.equal(decodeJwt((res.body as { jwt: string }).jwt).payload.sub, (ok[0]?.body as { id: string }).id);
  });

  test('password shorter than PASSWORD_MIN_LENGTH (in characters) is a 400; exactly the minimum is fine', async () => {
    const short = await createUser(b.url, { username: unique('pw'), password: 'x'.repeat(MIN_LENGTH - 1) });
    const message = expectError(short, 400, 'invalid_input', 'short password');
    assert.match(message, /password/);
    assert.match(message, new RegExp(String(MIN_LENGTH)));
    const exact = await createUser(b.url, { username: unique('pw'), password: 'x'.repeat(MIN_LENGTH) });
    assert.equal(exact.status, 200, JSON.stringify(exact.body));
    // Characters, not bytes or UTF-16 units: 9 emoji (36 bytes, 18 units) are still too short.
    const emojiShort = await createUser(b.url, { username: unique('pw'), password: '🔑'.repeat(MIN_LENGTH - 1) });
    expectError(emojiShort, 400, 'invalid_input', '9 emoji');
    const emojiOk = await createUser(b.url, { username: unique('pw'), password: '🔑'.repeat(MIN_LENGTH) });
    assert.equal(emojiOk.status, 200, JSON.stringify(emojiOk.body));
  });

  test('password over 72 UTF-8 bytes is a 400 naming the 72-byte limit; exactly 72 bytes is fine', async () => {
    // 25 × '€' is 25 characters but 75 bytes.
    const euro = await createUser(b.url, { username: unique('pw'), password: '€'.repeat(25) });
    const message = expectError(euro, 400, 'invalid_input', '25 euro signs');
    assert.match(message, /72 bytes/);
    const ascii = await createUser(b.url, { username: unique('pw'), password: 'a'.repeat(73) });
    assert.match(expectError(ascii, 400, 'invalid_input', '73 ascii'), /72 bytes/);
    const username = unique('pw72');
    const exact = await createUser(b.url, { username, password: '€'.repeat(24) });
    assert.equal(exact.status, 200, JSON.stringify(exact.body));
    const res = await login(b.url, { username, password: '€'.repeat(24) });
    assert.equal(res.status, 200);
  });

  test('empty, blank, over-long usernames and usernames with control characters are a 400', async () => {
    const bad = ['', '   ', '\t', ' \n ', 'a\u0000b', 'a\nb', 'a\rb', 'a\u007fb', 'a\u0085b', 'x'.repeat(129)];
    for (const username of bad) {
      const res = await createUser(b.url, { username, password: PASSWORD });
      assert.match(expectError(res, 400, 'invalid_input', JSON.stringify(username)), /username/);
    }
    const longest = await createUser(b.url, { username: `${unique('L')}`.padEnd(128, 'x'), password: PASSWORD });
    assert.equal(longest.status, 200, '128 characters is allowed');
  });

  test('missing or mistyped fields are a 400 naming the field', async () => {
    const cases: readonly [unknown, RegExp][] = [
      [{ password: PASSWORD }, /username/],
      [{ username: unique('m') }, /password/],
      [{ username: 5, password: PASSWORD }, /username/],
      [{ username: unique('m'), password: 12345678901 }, /password/],
      [{ username: unique('m'), password: null }, /password/],
    ];
    for (const [body, field] of cases) {
      const res = await createUser(b.url, body);
      assert.match(expectError(res, 400, 'invalid_input', JSON.stringify(body)), field);
    }
  });
});

describe('POST /login', () => {
  let b: TestBroker;
  let username: string;
  let userId: string;
  before(async () => {
    b = await startBroker({ EXPIRY: String(EXPIRY), PASSWORD_MIN_LENGTH: String(MIN_LENGTH) });
    username = unique('Dora');
    const res = await createUser(b.url, { username, password: PASSWORD, info: { likes: 'maps' } });
    assert.equal(res.status, 200);
    userId = (res.body as { id: string }).id;
  });
  after(() => b.close());

  test('returns {"jwt", "refresh_token", "expires_in"}: HS256, sub = the user id, company "", exp - iat = EXPIRY', async () => {
    const before = Math.floor(nowSeconds());
    const res = await login(b.url, { username, password: PASSWORD });
    const after = Math.ceil(nowSeconds());
    assert.equal(res.status, 200, JSON.stringify(res.body));
    // jwt as the original answered (its clients read only that); the refresh pair is ours.
    assert.deepEqual(Object.keys(res.body as object).sort(), ['expires_in', 'jwt', 'refresh_token']);
    assert.equal((res.body as { expires_in: number }).expires_in, EXPIRY);
    assert.match((res.body as { refresh_token: string }).refresh_token, /^[A-Za-z0-9_-]{43}$/);
    const jwt = decodeJwt((res.body as { jwt: string }).jwt);
    assert.equal(jwt.header.alg, 'HS256');
    assert.equal(jwt.payload.sub, userId);
    assert.equal(jwt.payload.company, '');
    const { iat, exp } = jwt.payload;
    assert.ok(typeof iat === 'number' && typeof exp === 'number', JSON.stringify(jwt.payload));
    assert.equal(exp - iat, EXPIRY);
    assert.ok(iat >= before && iat <= after, `iat ${iat} not within [${before}, ${after}]`);
    // Signed with SECRET: recompute the HMAC ourselves.
    const expected = createHmac('sha256', SECRET).update(jwt.signingInput).digest('base64url');
    assert.equal(jwt.signature, expected);
  });

  test('the token authenticates: an insert made with it carries the user id', async () => {
    const res = await login(b.url, { username, password: PASSWORD });
    const token = (res.body as { jwt: string }).jwt;
    const name = unique('whoami');
    await insert(b.url, token, name, { hello: true });
    const history = await request(b.url, 'GET', `/events/${name}`, { token });
    assert.equal(history.status, 200);
    assert.deepEqual(
      (history.body as { user_id: string }[]).map((e) => e.user_id),
      [userId],
    );
  });

  test('login ignores the case of the username', async () => {
    for (const variant of [username.toUpperCase(), username.toLowerCase()]) {
      const res = await login(b.url, { username: variant, password: PASSWORD });
      assert.equal(res.status, 200, variant);
      assert.equal(decodeJwt((res.body as { jwt: string }).jwt).payload.sub, userId);
    }
  });

  test('wrong password, unknown user and an over-long password all get the same 401 body', async () => {
    const wrong = await login(b.url, { username, password: `${PASSWORD}!` });
    const unknown = await login(b.url, { username: unique('nobody'), password: PASSWORD });
    const caseOfPassword = await login(b.url, { username, password: PASSWORD.toUpperCase() });
    const tooLong = await login(b.url, { username, password: `${PASSWORD}${'x'.repeat(80)}` });
    const empty = await login(b.url, { username, password: '' });
    for (const res of [wrong, unknown, caseOfPassword, tooLong, empty]) {
      expectError(res, 401, 'invalid_credentials');
      assert.deepEqual(res.body, wrong.body, 'no difference tells whether the user exists');
    }
  });

  test('missing or mistyped fields are a 400 naming the field', async () => {
    const cases: readonly [unknown, RegExp][] = [
      [{ password: PASSWORD }, /username/],
      [{ username }, /password/],
      [{ username: [username], password: PASSWORD }, /username/],
      [{ username, password: { p: PASSWORD } }, /password/],
    ];
    for (const [body, field] of cases) {
      const res = await login(b.url, body);
      assert.match(expectError(res, 400, 'invalid_input', JSON.stringify(body)), field);
    }
  });
});

describe('login rate limit (LOGIN_RATE_LIMIT=3)', () => {
  test('per IP: the 4th attempt is a 429, and then also for other usernames and right passwords', async () => {
    const b = await startBroker({ LOGIN_RATE_LIMIT: '3' });
    try {
      for (let i = 1; i <= 3; i++) {
        expectError(await login(b.url, { username: 'ghost', password: PASSWORD }), 401, 'invalid_credentials', `#${i}`);
      }
      const fourth = await login(b.url, { username: 'ghost', password: PASSWORD });
      expectError(fourth, 429, 'rate_limited', '4th attempt');
      // Same IP, a username never tried: the IP's count is exceeded.
      expectError(await login(b.url, { username: 'someone-else', password: PASSWORD }), 429, 'rate_limited', 'other name');
      // Sign-up spends bcrypt time too and shares the limit.
      expectError(await createUser(b.url, { username: 'fresh', password: PASSWORD }), 429, 'rate_limited', 'sign-up');
    } finally {
      await b.close();
    }
  });

  test('per username: the 4th attempt on one name is a 429 even from a new IP; other names are unaffected', async () => {
    // TRUST_PROXY lets each request come from its own client IP (X-Forwarded-For).
    const b = await startBroker({ LOGIN_RATE_LIMIT: '3', TRUST_PROXY: 'true' });
    const from = (ip: string): Record<string, string> => ({ 'x-forwarded-for': ip });
    try {
      // The sign-up counts as the first attempt for "carol".
      const created = await createUser(b.url, { username: 'carol', password: PASSWORD }, from('10.0.0.1'));
      assert.equal(created.status, 200);
      assert.equal((await login(b.url, { username: 'carol', password: PASSWORD }, from('10.0.0.2'))).status, 200);
      expectError(await login(b.url, { username: 'CAROL', password: 'nope' }, from('10.0.0.3')), 401, 'invalid_credentials');
      const fourth = await login(b.url, { username: 'Carol', password: PASSWORD }, from('10.0.0.4'));
      expectError(fourth, 429, 'rate_limited', '4th attempt for carol, right password, fresh IP');
      // After a 429 the right password still does not get through.
      expectError(await login(b.url, { username: 'carol', password: PASSWORD }, from('10.0.0.5')), 429, 'rate_limited');
      // The limit is per key, not global: another name from another IP is fine.
      expectError(await login(b.url, { username: 'dave', password: PASSWORD }, from('10.0.0.6')), 401, 'invalid_credentials');
    } finally {
      await b.close();
    }
  });

  test('a 429 tells the client when to retry (Retry-After header)', async () => {
    const b = await startBroker({ LOGIN_RATE_LIMIT: '1' });
    try {
      await login(b.url, { username: 'x', password: PASSWORD });
      const res = await login(b.url, { username: 'x', password: PASSWORD });
      const message = expectError(res, 429, 'rate_limited');
      assert.match(message, /\d+ s/);
      const retryAfter = res.headers.get('retry-after');
      assert.ok(retryAfter !== null && /^\d+$/.test(retryAfter), `Retry-After header: ${retryAfter}`);
      assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= 60, `Retry-After ${retryAfter}`);
    } finally {
      await b.close();
    }
  });
});
