import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request, until } from './helpers/api.js';
import { expectError, unique } from './helpers/expect-error.js';
import { SseClient } from './helpers/sse-client.js';
import { startBroker, type TestBroker } from './helpers/start-broker.js';

const PASSWORD = 'correct horse battery';
/** Rules under which the token matters on the stream: private names, and some for logged-in users. */
const RULES = {
  rules: [
    { names: 'private.{user}.>', read: 'owner', write: 'owner' },
    { names: 'ops.*', read: 'role:ops', write: 'role:ops' },
    { names: '>', read: 'user', write: 'user' },
  ],
};

interface Pair {
  readonly jwt: string;
  readonly refresh_token: string;
  readonly expires_in: number;
}

async function startWithRules(env: Record<string, string> = {}): Promise<TestBroker> {
  return startBroker(env, { rules: RULES });
}

describe('sessions: revocation at once, streams that end with their token, stream caps', () => {
  let b: TestBroker;
  let root: Pair;
  before(async () => {
    b = await startWithRules({ MAX_STREAMS_PER_USER: '2' });
    await b.broker.core.deps.users.create({ username: 'root', password: PASSWORD, info: null, roles: ['admin'] });
    root = await login('root');
  });
  after(() => b.close());

  async function login(username: string, password = PASSWORD): Promise<Pair> {
    const res = await request(b.url, 'POST', '/login', { body: { username, password } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as Pair;
  }
  async function newUser(roles: string[] = []): Promise<{ id: string; name: string }> {
    const name = unique('u');
    const id = await b.broker.core.deps.users.create({ username: name, password: PASSWORD, info: null, roles });
    return { id, name };
  }
  const stream = (pair: Pair, query = ''): Promise<SseClient> =>
    SseClient.connect(`${b.url}/events${query}`, { authorization: `Bearer ${pair.jwt}` });
  const comments = (c: SseClient): string[] => c.frames.flatMap((f) => (f.comment === undefined ? [] : [f.comment]));

  test('disabling a user refuses their tokens and closes their streams at once, saying why', async () => {
    const u = await newUser();
    const pair = await login(u.name);
    const s = await stream(pair);
    await s.waitFor(() => s.frames.length >= 1, 5000, 'retry');
    await until(async () => b.broker.core.deps.hub.boundStreams, (n) => n >= 1, 'the stream bound to its token');
    const res = await request(b.url, 'PATCH', `/admin/users/${u.id}`, { token: root.jwt, body: { disabled: true } });
    assert.equal(res.status, 200);
    // "At once": the very next request, with no wait.
    expectError(await request(b.url, 'GET', '/me', { token: pair.jwt }), 401, 'unauthorized', 'after disabling');
    await s.waitForClose();
    assert.ok(comments(s).some((c) => /token revoked/.test(c)), JSON.stringify(comments(s)));
    expectError(await request(b.url, 'POST', '/login', { body: { username: u.name, password: PASSWORD } }), 403, 'user_disabled');
    expectError(await request(b.url, 'POST', '/token/refresh', { body: { refresh_token: pair.refresh_token } }), 401, 'unauthorized');
    assert.equal((await request(b.url, 'PATCH', `/admin/users/${u.id}`, { token: root.jwt, body: { disabled: false } })).status, 200);
    assert.equal((await request(b.url, 'GET', '/me', { token: (await login(u.name)).jwt })).status, 200, 'enabled again');
  });

  test('logout ends that session only: its stream closes, another session of the user lives on', async () => {
    const u = await newUser();
    const a = await login(u.name);
    const other = await login(u.name);
    const sa = await stream(a);
    const sb = await stream(other);
    await sa.waitFor(() => sa.frames.length >= 1);
    await sb.waitFor(() => sb.frames.length >= 1);
    assert.deepEqual((await request(b.url, 'POST', '/logout', { token: a.jwt })).body, { ok: true });
    expectError(await request(b.url, 'GET', '/me', { token: a.jwt }), 401, 'unauthorized', 'logged-out token');
    expectError(await request(b.url, 'POST', '/token/refresh', { body: { refresh_token: a.refresh_token } }), 401, 'unauthorized');
    await sa.waitForClose();
    assert.equal((await request(b.url, 'GET', '/me', { token: other.jwt })).status, 200, 'the other session');
    const marker = unique('m');
    assert.equal((await request(b.url, 'POST', '/insert', { token: other.jwt, body: { event: marker, data: 1 } })).status, 200);
    await sb.waitFor(() => sb.events.some((e) => e.event === marker), 5000, 'the other stream still delivers');
    assert.equal(sb.closed, false);
    sb.close();
  });

  test('a password change ends every session and stream of the user; the caller gets a new pair', async () => {
    const u = await newUser();
    const a = await login(u.name);
    const other = await login(u.name);
    const s = await stream(other);
    await s.waitFor(() => s.frames.length >= 1);
    const wrong = await request(b.url, 'POST', '/me/password', { token: a.jwt, body: { old_password: 'nope-nope-nope', new_password: 'a new password!' } });
    expectError(wrong, 401, 'invalid_credentials', 'wrong old password');
    const res = await request(b.url, 'POST', '/me/password', { token: a.jwt, body: { old_password: PASSWORD, new_password: 'a new password!' } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const fresh = res.body as Pair;
    for (const old of [a.jwt, other.jwt]) expectError(await request(b.url, 'GET', '/me', { token: old }), 401, 'unauthorized');
    await s.waitForClose();
    assert.equal((await request(b.url, 'GET', '/me', { token: fresh.jwt })).status, 200);
    expectError(await request(b.url, 'POST', '/login', { body: { username: u.name, password: PASSWORD } }), 401, 'invalid_credentials');
    assert.equal((await login(u.name, 'a new password!')).expires_in > 0, true);
  });

  test('a roles change refuses the old token; a refresh brings the new roles', async () => {
    const u = await newUser();
    const pair = await login(u.name);
    expectError(await request(b.url, 'GET', '/events/ops.cpu', { token: pair.jwt }), 403, 'forbidden', 'before');
    const res = await request(b.url, 'PATCH', `/admin/users/${u.id}`, { token: root.jwt, body: { roles: ['ops'] } });
    assert.deepEqual((res.body as { roles: string[] }).roles, ['ops']);
    expectError(await request(b.url, 'GET', '/events/ops.cpu', { token: pair.jwt }), 401, 'unauthorized', 'the old token');
    const refreshed = await request(b.url, 'POST', '/token/refresh', { body: { refresh_token: pair.refresh_token } });
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    const next = refreshed.body as Pair;
    assert.notEqual(next.refresh_token, pair.refresh_token, 'rotated');
    assert.equal((await request(b.url, 'GET', '/events/ops.cpu', { token: next.jwt })).status, 200, 'the new role reads ops.*');
  });

  test('deleting a user ends their tokens; their events stay with their user id', async () => {
    const u = await newUser();
    const pair = await login(u.name);
    const name = unique('left');
    const inserted = await request(b.url, 'POST', '/insert', { token: pair.jwt, body: { event: name, data: 'mine' } });
    assert.equal(inserted.status, 200);
    assert.deepEqual((await request(b.url, 'DELETE', `/admin/users/${u.id}`, { token: root.jwt })).body, { id: u.id, deleted: true });
    expectError(await request(b.url, 'GET', '/me', { token: pair.jwt }), 401, 'unauthorized');
    expectError(await request(b.url, 'GET', `/admin/users/${u.id}`, { token: root.jwt }), 404, 'not_found');
    const history = await request(b.url, 'GET', `/events/${name}`, { token: root.jwt });
    assert.deepEqual((history.body as { user_id: string }[]).map((e) => e.user_id), [u.id]);
  });

  test('streams per user are capped (429 with Retry-After); others keep connecting; a closed one frees its slot', async () => {
    const u = await newUser();
    const pair = await login(u.name);
    const open = [await stream(pair), await stream(pair)];
    for (const s of open) await s.waitFor(() => s.frames.length >= 1);
    const third = await request(b.url, 'GET', '/events', { token: pair.jwt });
    expectError(third, 429, 'too_many_streams', 'third stream of one user');
    assert.ok(Number(third.headers.get('retry-after')) > 0);
    const someoneElse = await stream(await login((await newUser()).name));
    await someoneElse.waitFor(() => someoneElse.frames.length >= 1);
    assert.equal(someoneElse.status, 200);
    someoneElse.close();
    open[0]?.close();
    await until(
      async () => (await SseClient.connect(`${b.url}/events`, { authorization: `Bearer ${pair.jwt}` })),
      (c) => {
        c.close();
        return c.status === 200;
      },
      'a slot freed by the closed stream',
    );
    open[1]?.close();
  });
});

describe('a stream opened with a token ends when the token expires; the client resumes with a fresh one', () => {
  let b: TestBroker;
  before(async () => {
    b = await startWithRules({ EXPIRY: '2' });
  });
  after(() => b.close());

  test('closed with a comment at expiry; a refreshed token resumes after Last-Event-ID with nothing lost or repeated', async () => {
    const name = unique('u');
    const userId = await b.broker.core.deps.users.create({ username: name, password: PASSWORD, info: null });
    const pair = (await request(b.url, 'POST', '/login', { body: { username: name, password: PASSWORD } })).body as Pair;
    const event = `private.${userId}.feed`;
    const send = async (n: number, token: string) =>
      assert.equal((await request(b.url, 'POST', '/insert', { token, body: { event, data: n } })).status, 200);
    const s = await SseClient.connect(`${b.url}/events?event=private.>`, { authorization: `Bearer ${pair.jwt}` });
    await send(1, pair.jwt);
    await s.waitFor(() => s.events.length >= 1);
    await s.waitForClose(5000);
    assert.ok(s.frames.some((f) => /token expired/.test(f.comment ?? '')), JSON.stringify(s.frames));
    const lastId = s.events[s.events.length - 1]?.id as string;
    // The old token is refused now; a refreshed one reads on from the last id.
    const refreshed = (await request(b.url, 'POST', '/token/refresh', { body: { refresh_token: pair.refresh_token } })).body as Pair;
    await send(2, refreshed.jwt);
    await send(3, refreshed.jwt);
    const again = await SseClient.connect(`${b.url}/events?event=private.>`, { authorization: `Bearer ${pair.jwt}` });
    assert.equal(again.status, 401, 'the expired token');
    const resumed = await SseClient.connect(`${b.url}/events?event=private.>`, {
      authorization: `Bearer ${refreshed.jwt}`,
      'last-event-id': lastId,
    });
    await resumed.waitForEvents(2);
    assert.deepEqual([...s.events, ...resumed.events].map((e) => Number(e.data)), [1, 2, 3]);
    resumed.close();
  });
});

describe('bad input around access: a clear 400 that changes nothing', () => {
  let b: TestBroker;
  let root: Pair;
  before(async () => {
    b = await startWithRules();
    await b.broker.core.deps.users.create({ username: 'root', password: PASSWORD, info: null, roles: ['admin'] });
    root = (await request(b.url, 'POST', '/login', { body: { username: 'root', password: PASSWORD } })).body as Pair;
  });
  after(() => b.close());

  test('malformed ?event= patterns and too many of them', async () => {
    for (const [query, message] of [
      ['?event=a.%3E.b', /only as its last segment/],
      ['?event=', /must not be empty/],
      [`?${Array.from({ length: 101 }, (_, i) => `event=n${i}`).join('&')}`, /at most 100/],
    ] as const) {
      const c = await SseClient.connect(`${b.url}/events${query}`, { authorization: `Bearer ${root.jwt}` });
      assert.equal(c.status, 400, query);
      const body = JSON.parse(c.body) as { code: string; error: string };
      assert.equal(body.code, 'invalid_input');
      assert.match(body.error, message);
      c.close();
    }
  });

  test('roles that are not short names, unknown fields and wrong types: 400, the user unchanged', async () => {
    const id = await b.broker.core.deps.users.create({ username: unique('v'), password: PASSWORD, info: { a: 1 }, roles: ['keep'] });
    for (const [body, message] of [
      [{ roles: ['has space'] }, /only letters/],
      [{ roles: ['x'.repeat(65)] }, /at most 64/],
      [{ roles: ['a', 'a'] }, /must not repeat/],
      [{ roles: Array.from({ length: 33 }, (_, i) => `r${i}`) }, /at most 32/],
      [{ roles: 'admin' }, /roles/],
      [{ disabled: 'yes' }, /disabled/],
      [{ disable: true }, /unknown field "disable"/],
      [{ password: 'short' }, /at least 8/],
    ] as const) {
      const res = await request(b.url, 'PATCH', `/admin/users/${id}`, { token: root.jwt, body });
      assert.match(expectError(res, 400, 'invalid_input', JSON.stringify(body)), message);
    }
    const user = await request(b.url, 'GET', `/admin/users/${id}`, { token: root.jwt });
    assert.deepEqual((user.body as { roles: string[]; info: unknown }).roles, ['keep']);
    assert.deepEqual((user.body as { info: unknown }).info, { a: 1 });
  });

  test('an admin disabling or demoting themselves as the last admin: 400 last_admin, still an admin', async () => {
    const me = (await request(b.url, 'GET', '/me', { token: root.jwt })).body as { id: string };
    expectError(await request(b.url, 'PATCH', `/admin/users/${me.id}`, { token: root.jwt, body: { disabled: true } }), 400, 'last_admin');
    expectError(await request(b.url, 'PATCH', `/admin/users/${me.id}`, { token: root.jwt, body: { roles: ['x'] } }), 400, 'last_admin');
    expectError(await request(b.url, 'DELETE', `/admin/users/${me.id}`, { token: root.jwt }), 400, 'last_admin');
    assert.equal((await request(b.url, 'GET', '/admin/users', { token: root.jwt })).status, 200, 'still an admin, token still valid');
  });
});
