import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { type JsonResponse, nowSeconds, request } from './helpers/api.js';
import { backends } from './helpers/backends.js';
import { expectError, unique } from './helpers/expect-error.js';
import { SseClient } from './helpers/sse-client.js';
import { startBroker, type TestBroker, testEnv } from './helpers/start-broker.js';

/**
 * Every endpoint × every kind of caller, on each backend, through real HTTP and SSE. The
 * expectations are written out here by hand (never computed by Broker's own matcher): the rules
 * below, read as a person would.
 */
const RULES = {
  rules: [
    { names: 'private.{user}.>', read: 'owner', write: 'owner' },
    { names: 'news.>', read: 'public', write: 'role:editor' },
    { names: 'ops.*', read: 'role:ops', write: 'role:ops' },
    { names: 'gen.>', read: 'user', write: 'user' },
  ],
};
const PASSWORD = 'correct horse battery';

type Live = 'anon' | 'alice' | 'bob' | 'carol' | 'dave' | 'root';
type Revoked = 'disabled' | 'expired' | 'loggedOut' | 'reusedRefresh';
type Caller = Live | Revoked;
const LIVE: readonly Live[] = ['anon', 'alice', 'bob', 'carol', 'dave', 'root'];
const REVOKED: readonly Revoked[] = ['disabled', 'expired', 'loggedOut', 'reusedRefresh'];

for (const backend of backends) {
  describe(`access matrix (${backend.name})`, { skip: backend.skip }, () => {
    let b: TestBroker;
    let dropDatabase: () => Promise<void> = async () => {};
    const token: Partial<Record<Caller, string>> = {};
    const id: Partial<Record<Caller, string>> = {};
    /** The seeded names, one per rule and one that no rule matches. */
    let names: { pa: string; pb: string; news: string; ops: string; gen: string; none: string };
    let reusedPair: { jwt: string; refresh_token: string };

    /** Who may read a name, by hand: the rules above (admin reads everything). */
    const mayRead = (caller: Live, name: string): boolean => {
      if (caller === 'root') return true;
      if (name.startsWith('news.')) return true;
      if (caller === 'anon') return false;
      if (name.startsWith('private.')) return name.split('.')[1] === id[caller];
      if (/^ops\.[^.]*$/.test(name)) return caller === 'dave';
      return name.startsWith('gen.');
    };
    const mayWrite = (caller: Live, name: string): boolean => {
      if (caller === 'root') return true;
      if (caller === 'anon') return false;
      if (name.startsWith('private.')) return name.split('.')[1] === id[caller];
      if (name.startsWith('news.')) return caller === 'carol';
      if (name.startsWith('ops.')) return caller === 'dave';
      return name.startsWith('gen.');
    };

    const login = async (username: string): Promise<{ jwt: string; refresh_token: string }> => {
      const res = await request(b.url, 'POST', '/login', { body: { username, password: PASSWORD } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body as { jwt: string; refresh_token: string };
    };
    const post = (caller: Caller, name: string, data: unknown = 1, timestamp?: number): Promise<JsonResponse> =>
      request(b.url, 'POST', '/insert', { token: token[caller], body: { event: name, data, timestamp } });

    before(async () => {
      const db = await backend.database();
      dropDatabase = db.cleanup;
      b = await startBroker(db.env, { rules: RULES });
      const users = b.broker.core.deps.users;
      const roles: Record<string, string[]> = { carol: ['editor'], dave: ['ops'], root: ['admin'] };
      const suffix = unique('m');
      for (const who of ['alice', 'bob', 'carol', 'dave', 'root', 'disabled', 'loggedOut', 'reusedRefresh'] as const) {
        id[who] = await users.create({ username: `${who}-${suffix}`, password: PASSWORD, info: null, roles: roles[who] ?? [] });
        token[who] = (await login(`${who}-${suffix}`)).jwt;
      }
      names = {
        pa: `private.${id.alice}.notes`,
        pb: `private.${id.bob}.notes`,
        news: 'news.today',
        ops: 'ops.cpu',
        gen: 'gen.chat',
        none: 'elsewhere',
      };
      // An expired token, signed with the right secret.
      const key = new TextEncoder().encode(testEnv(b.dir).SECRET);
      const t = Math.floor(nowSeconds());
      token.expired = await new SignJWT({ company: '', sid: 'x', gen: 0, roles: [] })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(id.alice as string)
        .setIssuedAt(t - 120)
        .setExpirationTime(t - 60)
        .sign(key);
      // Revoked three ways: disabled by an admin, logged out, and a refresh token used twice.
      const disabled = await request(b.url, 'PATCH', `/admin/users/${id.disabled}`, { token: token.root, body: { disabled: true } });
      assert.equal(disabled.status, 200);
      assert.equal((await request(b.url, 'POST', '/logout', { token: token.loggedOut })).status, 200);
      const first = await login(`reusedRefresh-${suffix}`);
      const refreshed = await request(b.url, 'POST', '/token/refresh', { body: { refresh_token: first.refresh_token } });
      assert.equal(refreshed.status, 200);
      reusedPair = refreshed.body as { jwt: string; refresh_token: string };
      token.reusedRefresh = reusedPair.jwt;
      assert.equal((await request(b.url, 'GET', '/me', { token: token.reusedRefresh })).status, 200, 'valid before the reuse');
      const reuse = await request(b.url, 'POST', '/token/refresh', { body: { refresh_token: first.refresh_token } });
      expectError(reuse, 401, 'unauthorized', 'spent refresh token');
      // Seed one released version of every name (root may write anything).
      for (const n of Object.values(names)) assert.equal((await post('root', n, { seed: n })).status, 200);
    });
    after(async () => {
      await b.close();
      await dropDatabase();
    });

    test('POST /insert: 403 unless the rules let the caller write the name; 401 without a valid token', async () => {
      for (const caller of LIVE) {
        for (const [key, n] of Object.entries(names)) {
          const res = await post(caller, n, { by: caller });
          const label = `${caller} writes ${key}`;
          if (caller === 'anon') expectError(res, 401, 'unauthorized', label);
          else if (mayWrite(caller, n)) assert.equal(res.status, 200, `${label}: ${JSON.stringify(res.body)}`);
          else expectError(res, 403, 'forbidden', label);
        }
      }
      for (const caller of REVOKED) expectError(await post(caller, names.gen), 401, 'unauthorized', `${caller} writes`);
    });

    test('GET /events/{name}: 403 unless the caller may read the name; 401 without a valid token', async () => {
      for (const caller of LIVE) {
        for (const [key, n] of Object.entries(names)) {
          const res = await request(b.url, 'GET', `/events/${encodeURIComponent(n)}`, { token: token[caller] });
          const label = `${caller} reads the history of ${key}`;
          if (caller === 'anon') expectError(res, 401, 'unauthorized', label);
          else if (mayRead(caller, n)) {
            assert.equal(res.status, 200, label);
            assert.ok((res.body as unknown[]).length > 0, label);
          } else expectError(res, 403, 'forbidden', label);
        }
      }
      for (const caller of REVOKED) {
        expectError(await request(b.url, 'GET', `/events/${names.news}`, { token: token[caller] }), 401, 'unauthorized', caller);
      }
    });

    /** Opens a stream as `caller`, waits for a fresh public marker (everything before it arrived), returns it. */
    const streamUntilMarker = async (caller: Live, headers: Record<string, string> = {}, query = ''): Promise<SseClient> => {
      const auth: Record<string, string> = token[caller] ? { authorization: `Bearer ${token[caller]}` } : {};
      const c = await SseClient.connect(`${b.url}/events${query}`, { ...auth, ...headers });
      assert.equal(c.status, 200, `${caller}: ${c.body}`);
      const marker = unique('news.marker');
      assert.equal((await post('root', marker)).status, 200);
      await c.waitFor(() => c.events.some((e) => e.event === marker), 5000, `${caller}'s marker`);
      return c;
    };
    const assertNoLeak = (caller: Live, c: SseClient, what: string): void => {
      for (const e of c.events) assert.ok(mayRead(caller, e.event ?? ''), `${what}: ${caller} received "${e.event}"`);
    };
    const seededSeen = (c: SseClient): string[] =>
      Object.values(names).filter((n) => c.events.some((e) => e.event === n)).sort();
    const seededReadable = (caller: Live): string[] => Object.values(names).filter((n) => mayRead(caller, n)).sort();

    test('the stream: snapshot, replay and live carry exactly the names each caller may read', async () => {
      for (const caller of LIVE) {
        const snap = await streamUntilMarker(caller);
        try {
          assert.deepEqual(seededSeen(snap), seededReadable(caller), `${caller}'s snapshot`);
          assertNoLeak(caller, snap, 'snapshot');
          // Live: every name again, then a marker.
          const before = snap.events.length;
          for (const n of Object.values(names)) assert.equal((await post('root', n, { live: caller })).status, 200);
          const marker = unique('news.marker');
          await post('root', marker);
          await snap.waitFor(() => snap.events.some((e) => e.event === marker), 5000, 'live marker');
          const live = snap.events.slice(before);
          assert.deepEqual(
            Object.values(names).filter((n) => live.some((e) => e.event === n)).sort(),
            seededReadable(caller),
            `${caller}'s live frames`,
          );
          assertNoLeak(caller, snap, 'live');
        } finally {
          snap.close();
        }
        const replay = await streamUntilMarker(caller, { 'last-event-id': '0' });
        try {
          assert.deepEqual(seededSeen(replay), seededReadable(caller), `${caller}'s replay`);
          assertNoLeak(caller, replay, 'replay');
        } finally {
          replay.close();
        }
      }
    });

    test('the stream refuses revoked, expired and disabled tokens with 401', async () => {
      for (const caller of REVOKED) {
        const c = await SseClient.connect(`${b.url}/events`, { authorization: `Bearer ${token[caller]}` });
        assert.equal(c.status, 401, caller);
        assert.equal((JSON.parse(c.body) as { code: string }).code, 'unauthorized');
        c.close();
      }
    });

    test('patterns yield only readable names; an exact name the caller may not read is a 403', async () => {
      const bob = await streamUntilMarker('bob', {}, `?event=${encodeURIComponent('private.>')}&event=news.>`);
      try {
        assert.deepEqual(seededSeen(bob), [names.news, names.pb].sort());
        assertNoLeak('bob', bob, 'pattern');
      } finally {
        bob.close();
      }
      const anonOps = await streamUntilMarker('anon', {}, '?event=ops.*&event=news.*');
      try {
        assert.ok(!anonOps.events.some((e) => e.event?.startsWith('ops.')), 'anonymous sees no ops.* name');
      } finally {
        anonOps.close();
      }
      for (const [caller, n] of [
        ['bob', names.pa],
        ['anon', names.ops],
        ['alice', names.none],
      ] as const) {
        const auth: Record<string, string> = token[caller] ? { authorization: `Bearer ${token[caller]}` } : {};
        const c = await SseClient.connect(`${b.url}/events?event=${encodeURIComponent(n)}`, auth);
        assert.equal(c.status, 403, `${caller} asks for ${n}`);
        c.close();
      }
    });

    test('cancel stays the author’s and an admin’s', async () => {
      const future = nowSeconds() + 3600;
      const mine = await post('alice', names.pa, 'later', future);
      const other = await post('alice', names.gen, 'later', future);
      const byAlice = await post('alice', names.gen, 'mine', future);
      for (const caller of ['bob', 'carol', 'dave'] as const) {
        expectError(
          await request(b.url, 'POST', `/events/${(mine.body as { id: string }).id}/cancel`, { token: token[caller] }),
          403,
          'forbidden',
          `${caller} cancels alice's`,
        );
      }
      expectError(await request(b.url, 'POST', `/events/${(mine.body as { id: string }).id}/cancel`), 401, 'unauthorized');
      const byRoot = await request(b.url, 'POST', `/events/${(other.body as { id: string }).id}/cancel`, { token: token.root });
      assert.equal(byRoot.status, 200);
      assert.equal((byRoot.body as { cancelled: boolean }).cancelled, true);
      const own = await request(b.url, 'POST', `/events/${(byAlice.body as { id: string }).id}/cancel`, { token: token.alice });
      assert.equal(own.status, 200);
      const pending = await request(b.url, 'GET', '/me/pending', { token: token.alice });
      assert.deepEqual(
        (pending.body as { id: string }[]).map((e) => e.id),
        [(mine.body as { id: string }).id],
        "alice's pending: the one not cancelled",
      );
    });

    test('/me, /me/pending and /admin/users: 401 without a valid token, admin endpoints 403 for everyone but admins', async () => {
      for (const caller of LIVE) {
        for (const path of ['/me', '/me/pending', '/admin/users', `/admin/users/${id.alice}`]) {
          const res = await request(b.url, 'GET', path, { token: token[caller] });
          const label = `${caller} GET ${path}`;
          if (caller === 'anon') expectError(res, 401, 'unauthorized', label);
          else if (path.startsWith('/admin') && caller !== 'root') expectError(res, 403, 'forbidden', label);
          else assert.equal(res.status, 200, label);
        }
        if (caller !== 'root') {
          const patch = await request(b.url, 'PATCH', `/admin/users/${id.bob}`, { token: token[caller], body: { roles: ['ops'] } });
          expectError(patch, caller === 'anon' ? 401 : 403, caller === 'anon' ? 'unauthorized' : 'forbidden', `${caller} PATCH`);
          const del = await request(b.url, 'DELETE', `/admin/users/${id.bob}`, { token: token[caller] });
          expectError(del, caller === 'anon' ? 401 : 403, caller === 'anon' ? 'unauthorized' : 'forbidden', `${caller} DELETE`);
        }
      }
      for (const caller of REVOKED) {
        for (const path of ['/me', '/me/pending', '/admin/users']) {
          expectError(await request(b.url, 'GET', path, { token: token[caller] }), 401, 'unauthorized', `${caller} ${path}`);
        }
        expectError(await request(b.url, 'POST', '/logout', { token: token[caller] }), 401, 'unauthorized', `${caller} logout`);
      }
      const me = await request(b.url, 'GET', '/me', { token: token.carol });
      assert.deepEqual((me.body as { roles: string[] }).roles, ['editor']);
    });

    test('a reused refresh token ended its whole session: the newer pair is refused too', async () => {
      expectError(await request(b.url, 'GET', '/me', { token: reusedPair.jwt }), 401, 'unauthorized', 'jwt of the session');
      const next = await request(b.url, 'POST', '/token/refresh', { body: { refresh_token: reusedPair.refresh_token } });
      expectError(next, 401, 'unauthorized', 'the newest refresh token of the ended session');
    });
  });
}
