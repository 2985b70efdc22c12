import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { EventSource as NodeEventSource } from 'eventsource';
import {
  BrokerClient,
  type BrokerClientOptions,
  BrokerError,
  type ConnectionStatus,
  type EventSourceConstructor,
  type Session,
  type StreamEvent,
  type Subscription,
} from '../src/client/index.js';
import { waitUntil } from './helpers/broker-process.js';
import { ensureConsoleBuilt } from './helpers/browser.js';
import { startBroker, type TestBroker } from './helpers/start-broker.js';

const unique = (label: string): string => `${label}-${Math.random().toString(36).slice(2, 10)}`;
const PASSWORD = 'correct horse battery';
/**
 * Node's fetch (undici) opens a spare connection after a streaming response is aborted and
 * never sends a request on it; Broker's graceful close waits for it until SHUTDOWN_TIMEOUT
 * (10 s), so the test servers use a short one.
 */
const QUICK_CLOSE = { SHUTDOWN_TIMEOUT: '0.5' };

/** A fetch that logs `METHOD /path status` of every request (the stream's too, on its answer). */
function loggingFetch(log: string[]): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    log.push(`${init?.method ?? 'GET'} ${new URL(String(input)).pathname} ${res.status}`);
    return res;
  };
}

/** A subscription recording everything it sees. */
function record<T>(client: BrokerClient, options: Omit<Parameters<BrokerClient['subscribe']>[0], 'onEvent' | 'onStatus'>) {
  const events: StreamEvent<T>[] = [];
  const statuses: ConnectionStatus[] = [];
  const sub: Subscription = client.subscribe<T>({
    ...options,
    onEvent: (e) => events.push(e),
    onStatus: (s) => statuses.push(s),
  });
  return { sub, events, statuses };
}

describe('BrokerClient API', () => {
  let b: TestBroker;
  let client: BrokerClient;
  let username: string;
  before(async () => {
    b = await startBroker(QUICK_CLOSE);
    client = new BrokerClient({ url: b.url });
    username = unique('ada');
  });
  after(() => b.close());

  test('createUser, then login keeps the token (and reports it); wrong passwords are BrokerErrors', async () => {
    const changes: (string | undefined)[] = [];
    const c = new BrokerClient({ url: `${b.url}/`, onTokenChange: (t) => changes.push(t) });
    const { id } = await c.createUser({ username, password: PASSWORD, info: { team: 'blue' } });
    assert.match(id, /^[0-9a-f-]{36}$/);
    await assert.rejects(c.createUser({ username, password: PASSWORD }), (e: unknown) => {
      assert.ok(e instanceof BrokerError);
      assert.equal(e.status, 409);
      assert.equal(e.code, 'username_taken');
      return true;
    });
    await assert.rejects(c.login({ username, password: 'wrong password!' }), { name: 'BrokerError', code: 'invalid_credentials', status: 401 });
    assert.equal(c.token, undefined);
    await assert.rejects(c.insert({ event: 'x', data: 1 }), { code: 'unauthorized' });
    const token = await c.login({ username, password: PASSWORD });
    assert.equal(c.token, token);
    assert.deepEqual(changes, [token]);
    c.logout();
    assert.equal(c.token, undefined);
    assert.deepEqual(changes, [token, undefined]);
    await client.login({ username, password: PASSWORD });
  });

  test('insert takes a Date or epoch seconds (or now); history pages through every version', async () => {
    const name = unique('hist');
    const base = Math.floor(Date.now() / 1000) - 1000;
    const ids: string[] = [];
    ids.push((await client.insert({ event: name, data: { n: 0 }, timestamp: new Date(base * 1000) })).id);
    ids.push((await client.insert({ event: name, data: { n: 1 }, timestamp: base + 1.5 })).id);
    ids.push((await client.insert({ event: name, data: { n: 2 }, timestamp: base + 2 })).id);
    const before = Date.now() / 1000;
    ids.push((await client.insert({ event: name, data: { n: 3 } })).id);
    await assert.rejects(client.insert({ event: name, data: 1, timestamp: new Date('nope') }), TypeError);

    const first = await client.history<{ n: number }>(name, { limit: 3 });
    assert.deepEqual(first.events.map((e) => e.data.n), [0, 1, 2]);
    assert.deepEqual(first.events.map((e) => e.timestamp), [base, base + 1.5, base + 2]);
    assert.equal(first.next, ids[2]);
    const second = await client.history<{ n: number }>(name, { limit: 3, after: first.next });
    assert.deepEqual(second.events.map((e) => e.id), [ids[3]]);
    assert.equal(second.next, undefined);
    assert.ok(Math.abs((second.events[0]?.timestamp ?? 0) - before) < 5, 'omitted timestamp means now');
    assert.equal(second.events[0]?.published, true);

    const all: string[] = [];
    for await (const e of client.historyAll(name, { pageSize: 2 })) all.push(e.id);
    assert.deepEqual(all, ids);
    await assert.rejects(client.history(name, { after: 'not-an-id' }), { status: 400, code: 'invalid_input' });
  });

  test('cancel returns the cancelled event; a second cancel and a released event are refused', async () => {
    const name = unique('cancel');
    const { id } = await client.insert({ event: name, data: 'later', timestamp: new Date(Date.now() + 3_600_000) });
    const cancelled = await client.cancel(id);
    assert.equal(cancelled.id, id);
    assert.equal(cancelled.cancelled, true);
    assert.equal(cancelled.published, false);
    await assert.rejects(client.cancel(id), { status: 409, code: 'already_cancelled' });
    const now = await client.insert({ event: name, data: 'now' });
    await assert.rejects(client.cancel(now.id), { status: 409, code: 'already_released' });
    await assert.rejects(client.cancel('00000000-0000-4000-8000-000000000000'), { status: 404, code: 'not_found' });
  });

  test('an insert whose answer is lost (or that gets a 503) is sent again with its Idempotency-Key and stored once', async () => {
    const name = unique('retry');
    const keys: string[] = [];
    // The first attempt of the first two inserts: Broker stores it, its answer is lost. The
    // first attempt of the third: a 503. Every later attempt goes through.
    const flaky: typeof fetch = async (input, init) => {
      if (!new URL(String(input)).pathname.endsWith('/insert')) return fetch(input, init);
      const key = new Headers(init?.headers).get('idempotency-key') ?? '(none)';
      const firstAttempt = !keys.includes(key);
      keys.push(key);
      const insertNumber = new Set(keys).size;
      if (firstAttempt && insertNumber === 3) {
        return new Response(JSON.stringify({ error: 'try again', code: 'unavailable' }), { status: 503, headers: { 'content-type': 'application/json' } });
      }
      const res = await fetch(input, init);
      if (firstAttempt && insertNumber <= 2) {
        await res.text();
        throw new TypeError('fetch failed: the connection was reset');
      }
      return res;
    };
    const retrying = new BrokerClient({ url: b.url, fetch: flaky, token: client.token });
    const one = await retrying.insert({ event: name, data: 'single' });
    const many = await retrying.insertMany([
      { event: name, data: 'a' },
      { event: name, data: 'b' },
    ]);
    const third = await retrying.insert({ event: name, data: 'after a 503' });
    const history = await client.history(name);
    assert.deepEqual(history.events.map((e) => e.data), ['single', 'a', 'b', 'after a 503'], 'each stored exactly once');
    assert.deepEqual(history.events.map((e) => e.id), [one.id, ...many.map((m) => m.id), third.id]);
    assert.equal(keys.length, 6, 'three inserts, each sent twice');
    assert.equal(keys[0], keys[1]);
    assert.equal(keys[2], keys[3]);
    assert.equal(keys[4], keys[5]);
    assert.equal(new Set(keys).size, 3, 'a new key per insert');
    // Not retried: what a retry cannot fix.
    let sent = 0;
    const counting = new BrokerClient({ url: b.url, token: client.token, fetch: (i, init) => ((sent += 1), fetch(i, init)) });
    await assert.rejects(counting.insert({ event: '', data: 1 }), { status: 400 });
    assert.equal(sent, 1);
    assert.throws(() => new BrokerClient({ url: b.url, insertRetries: -1 }), TypeError);
  });

  test('a network failure is a BrokerError with status 0', async () => {
    const closed = new BrokerClient({ url: 'http://127.0.0.1:9' });
    await assert.rejects(closed.createUser({ username: 'x', password: PASSWORD }), { name: 'BrokerError', status: 0, code: 'network' });
  });

  test('subscribe (fetch transport): latest value of each name, then live events, filtered, in id order', async () => {
    const a = unique('sa');
    const z = unique('sz');
    await client.insert({ event: a, data: { v: 'old' } });
    await client.insert({ event: a, data: { v: 'latest' } });
    await client.insert({ event: z, data: { v: 'z' } });
    const other = unique('other');
    const r = record<{ v: string }>(client, { events: [a, z] });
    try {
      await waitUntil(() => r.events.length === 2, 5000, 'the snapshot');
      assert.deepEqual(r.events.map((e) => [e.event, e.data.v]), [[a, 'latest'], [z, 'z']]);
      await client.insert({ event: other, data: { v: 'filtered out' } });
      await client.insert({ event: z, data: { v: 'live' } });
      await waitUntil(() => r.events.length === 3, 5000, 'the live event');
      assert.deepEqual(r.events[2]?.data, { v: 'live' });
      const ids = r.events.map((e) => Number(e.id));
      assert.deepEqual([...ids].sort((x, y) => x - y), ids);
      assert.equal(r.sub.lastEventId, r.events[2]?.id);
      assert.deepEqual(r.statuses.map((s) => s.state), ['connecting', 'open']);
      assert.equal(r.sub.status.transport, 'fetch', 'Node 20 has no EventSource');
      assert.ok(r.events[2] && r.events[2].receivedAt instanceof Date);
    } finally {
      r.sub.close();
    }
    assert.equal(r.sub.status.state, 'closed');
  });

  test('subscribe with lastEventId resumes after it; the EventSource transport does the same', async () => {
    const name = unique('resume');
    const first = record<{ n: number }>(client, { events: [name] });
    await waitUntil(() => first.statuses.some((s) => s.state === 'open'), 5000, 'open');
    await client.insert({ event: name, data: { n: 1 } });
    await waitUntil(() => first.events.length === 1, 5000, 'event 1');
    first.sub.close();
    for (let n = 2; n <= 4; n++) await client.insert({ event: name, data: { n } });
    const esClient = new BrokerClient({ url: b.url, EventSource: NodeEventSource as unknown as EventSourceConstructor });
    const viaFetch = record<{ n: number }>(client, { events: [name], lastEventId: first.sub.lastEventId });
    const viaEs = record<{ n: number }>(esClient, { events: [name], lastEventId: Number(first.sub.lastEventId) });
    try {
      await waitUntil(() => viaFetch.events.length === 3 && viaEs.events.length === 3, 5000, 'the replay');
      await client.insert({ event: name, data: { n: 5 } });
      await waitUntil(() => viaFetch.events.length === 4 && viaEs.events.length === 4, 5000, 'the live event');
      assert.deepEqual(viaFetch.events.map((e) => e.data.n), [2, 3, 4, 5]);
      assert.deepEqual(viaEs.events.map((e) => e.data.n), [2, 3, 4, 5]);
      assert.deepEqual(viaEs.events.map((e) => e.id), viaFetch.events.map((e) => e.id));
      assert.equal(viaEs.sub.status.transport, 'eventsource');
    } finally {
      viaFetch.sub.close();
      viaEs.sub.close();
    }
  });

  test('no callback after close(); a callback that throws does not stop the stream', async () => {
    const name = unique('throw');
    const seen: unknown[] = [];
    const errors: unknown[] = [];
    const sub = client.subscribe<number>({
      events: [name],
      onEvent: (e) => {
        seen.push(e.data);
        if (e.data === 1) throw new Error('boom');
      },
      onError: (e) => errors.push(e),
    });
    await client.insert({ event: name, data: 1 });
    await client.insert({ event: name, data: 2 });
    await waitUntil(() => seen.length === 2, 5000, 'two events');
    assert.equal(errors.length, 1);
    sub.close();
    await client.insert({ event: name, data: 3 });
    const marker = record<number>(client, { events: [name], lastEventId: sub.lastEventId });
    await waitUntil(() => marker.events.length === 1, 5000, 'the event after close');
    marker.sub.close();
    assert.deepEqual(seen, [1, 2]);
  });

  test('argument errors are thrown at once', () => {
    assert.throws(() => client.subscribe({ events: [], onEvent: () => {} }), TypeError);
    assert.throws(() => client.subscribe({ transport: 'eventsource', events: ['a'], onEvent: () => {} }), /no EventSource/);
    const esClient = new BrokerClient({ url: b.url, EventSource: NodeEventSource as unknown as EventSourceConstructor });
    assert.throws(() => esClient.subscribe({ transport: 'eventsource', events: ['orders.*'], onEvent: () => {} }), /patterns/);
    assert.throws(() => new BrokerClient(), /url is required/);
    assert.throws(() => new BrokerClient({ url: b.url, refreshAt: 1 }), /refreshAt/);
    assert.throws(() => new BrokerClient({ url: b.url, session: { token: '' } }), /session/);
  });

  test('a pattern subscription (orders.*) gets every matching name, over fetch even where an EventSource exists', async () => {
    const prefix = unique('orders');
    const esClient = new BrokerClient({ url: b.url, EventSource: NodeEventSource as unknown as EventSourceConstructor });
    const one = record<number>(esClient, { events: [`${prefix}.*`] });
    const rest = record<number>(esClient, { events: [`${prefix}.>`] });
    try {
      await waitUntil(() => one.sub.status.state === 'open' && rest.sub.status.state === 'open', 5000, 'open');
      assert.equal(one.sub.status.transport, 'fetch');
      for (const [name, n] of [[`${prefix}.a`, 1], [`${prefix}.b.deep`, 2], [`${prefix}x.a`, 3], [`${prefix}.c`, 4]] as const) {
        await client.insert({ event: name, data: n });
      }
      await waitUntil(() => one.events.length === 2 && rest.events.length === 3, 5000, 'the matching events');
      assert.deepEqual(one.events.map((e) => e.data), [1, 4]);
      assert.deepEqual(rest.events.map((e) => e.data), [1, 2, 4]);
    } finally {
      one.sub.close();
      rest.sub.close();
    }
  });
});

describe('subscribe: stream authentication', () => {
  let b: TestBroker;
  before(async () => {
    b = await startBroker({ ...QUICK_CLOSE, STREAM_AUTH: 'true' });
  });
  after(() => b.close());

  test("auth 'auto' retries with the token after a 401; without a token the subscription closes with the error", async () => {
    const anonymous = record(new BrokerClient({ url: b.url }), {});
    await waitUntil(() => anonymous.sub.status.state === 'closed', 5000, 'closed');
    assert.equal((anonymous.sub.status.error as BrokerError).code, 'unauthorized');
    assert.deepEqual(anonymous.statuses.map((s) => s.state), ['connecting', 'closed']);

    const client = new BrokerClient({ url: b.url });
    const username = unique('auth');
    await client.createUser({ username, password: PASSWORD });
    await client.login({ username, password: PASSWORD });
    const name = unique('private');
    // With an EventSource available and names given, 'auto' starts on the EventSource, learns
    // of the 401 by probing, and switches to the fetch transport with the token.
    const esClient = new BrokerClient({ url: b.url, token: client.token, EventSource: NodeEventSource as unknown as EventSourceConstructor });
    const viaFetch = record<string>(client, { events: [name] });
    const viaEs = record<string>(esClient, { events: [name] });
    try {
      await waitUntil(() => viaFetch.sub.status.state === 'open' && viaEs.sub.status.state === 'open', 5000, 'open');
      await client.insert({ event: name, data: 'secret' });
      await waitUntil(() => viaFetch.events.length === 1 && viaEs.events.length === 1, 5000, 'the event');
      assert.equal(viaEs.sub.status.transport, 'fetch');
      assert.equal(viaEs.statuses[0]?.transport, 'eventsource');
    } finally {
      viaFetch.sub.close();
      viaEs.sub.close();
    }
  });
});

const RULES = {
  rules: [
    { names: 'private.{user}.>', read: 'owner', write: 'owner' },
    { names: 'news.>', read: 'public', write: 'role:editor' },
    { names: '>', read: 'public', write: 'user' },
  ],
};

describe('sessions: refresh, logout, account and admin calls (EXPIRY 3 s, access rules)', () => {
  // EXPIRY is the access token's lifetime and so the base of the refresh timer: with 3 s the
  // client refreshes about every 1.6 s (80 % of the 2 s it counts on, whole-second exp aside).
  let b: TestBroker;
  before(async () => {
    b = await startBroker({ ...QUICK_CLOSE, EXPIRY: '3' }, { rules: RULES });
  });
  after(async () => {
    await b.close();
  });

  /** A new user, and a client logged in as that user. */
  async function user(options: Omit<BrokerClientOptions, 'url'> = {}) {
    const client = new BrokerClient({ url: b.url, ...options });
    const username = unique('user');
    const { id } = await client.createUser({ username, password: PASSWORD });
    await client.login({ username, password: PASSWORD });
    return { client, id, username };
  }

  /** POST /token/refresh by hand, outside the client. */
  async function spend(refreshToken: string | undefined): Promise<number> {
    const res = await fetch(`${b.url}/token/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: refreshToken }),
    });
    await res.arrayBuffer();
    return res.status;
  }

  async function meStatus(token: string | undefined): Promise<number> {
    const res = await fetch(`${b.url}/me`, { headers: { authorization: `Bearer ${token}` } });
    await res.arrayBuffer();
    return res.status;
  }

  test('login keeps the refresh token and the expiry; the client refreshes each token before it expires, so no call gets a 401', async () => {
    const log: string[] = [];
    const sessions: { session: Session | undefined; at: number }[] = [];
    const tokens: (string | undefined)[] = [];
    const loginAt = Date.now();
    const { client } = await user({
      fetch: loggingFetch(log),
      onSessionChange: (session) => sessions.push({ session, at: Date.now() }),
      onTokenChange: (t) => tokens.push(t),
    });
    const first = client.session;
    assert.ok(first?.refreshToken && first.expiresAt !== undefined);
    assert.equal(first.token, client.token);
    assert.ok(first.expiresAt >= loginAt + 1900 && first.expiresAt <= Date.now() + 2000, 'expires_in 3 s, less the whole-second rounding');
    assert.deepEqual(sessions.map((s) => s.session), [first]);
    await waitUntil(() => sessions.length >= 3, 8000, 'two refreshes');
    for (let i = 1; i < sessions.length; i++) {
      const before = sessions[i - 1]?.session?.expiresAt ?? 0;
      assert.ok((sessions[i]?.at ?? Infinity) < before, `refresh ${i} came before the token it replaced expired`);
    }
    await client.me();
    assert.ok(Date.now() > loginAt + 3000, 'past the first token\'s lifetime');
    assert.deepEqual(log.filter((l) => l.endsWith(' 401')), [], 'no call was refused');
    const refreshTokens = sessions.map((s) => s.session?.refreshToken);
    assert.equal(new Set(refreshTokens).size, refreshTokens.length, 'the refresh token rotates');
    assert.deepEqual(tokens, sessions.map((s) => s.session?.token), 'onTokenChange follows');
    // A spent refresh token used again ends the session: the client finds out and forgets it.
    assert.equal(await spend(first.refreshToken), 401);
    await assert.rejects(client.me(), { status: 401, code: 'unauthorized' });
    assert.equal(client.session, undefined);
    assert.equal(sessions.at(-1)?.session, undefined);
  });

  /** Waits until the client's access token is past its expiry by Broker's clock too. */
  async function expired(client: BrokerClient): Promise<void> {
    // expiresAt is a second early (Broker's exp is whole seconds); a second more is past it.
    const at = (client.session?.expiresAt ?? 0) + 1000;
    await waitUntil(() => Date.now() > at, 5000, 'the token to expire');
    assert.equal(await meStatus(client.token), 401, 'the token has expired');
  }

  test('a call refused with 401 refreshes once and is sent again (autoRefresh: false)', async () => {
    const log: string[] = [];
    const { client } = await user({ fetch: loggingFetch(log), autoRefresh: false });
    await expired(client);
    log.length = 0;
    const { id } = await client.insert({ event: unique('retry'), data: 1 });
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.deepEqual(log, ['POST /insert 401', 'POST /token/refresh 200', 'POST /insert 200']);
    // A wrong password is not a token problem: no refresh, no second attempt.
    log.length = 0;
    await assert.rejects(client.changePassword('not the password', 'another password'), { status: 401, code: 'invalid_credentials' });
    assert.deepEqual(log, ['POST /me/password 401']);
    // Without a refresh token, the 401 stands.
    const bare = new BrokerClient({ url: b.url, token: 'not.a.token' });
    await assert.rejects(bare.me(), { status: 401, code: 'unauthorized' });
  });

  test('single flight: concurrent calls with an expired token share one refresh', async () => {
    const log: string[] = [];
    const { client } = await user({ fetch: loggingFetch(log), autoRefresh: false });
    await expired(client);
    log.length = 0;
    const name = unique('flight');
    const [me, pending, inserted, history] = await Promise.all([
      client.me(),
      client.pending(),
      client.insert({ event: name, data: 1 }),
      client.history(name),
      client.updateMe({ n: 1 }),
    ]);
    assert.ok(me.id && Array.isArray(pending.events) && inserted.id && Array.isArray(history.events));
    assert.equal(log.filter((l) => l.startsWith('POST /token/refresh')).length, 1, log.join(', '));
    assert.equal(log.filter((l) => l.endsWith(' 401')).length, 5);
    // refresh() itself: two at once are one request, with one result.
    log.length = 0;
    const [a, c] = await Promise.all([client.refresh(), client.refresh()]);
    assert.equal(a, c);
    assert.deepEqual(log, ['POST /token/refresh 200']);
    // Due (autoRefresh): calls made after the refresh time refresh first, once, and get no 401.
    const due = new BrokerClient({ url: b.url, fetch: loggingFetch(log), session: { ...(client.session as Session), expiresAt: Date.now() } });
    log.length = 0;
    await Promise.all([due.me(), due.me(), due.pending()]);
    assert.deepEqual(log.filter((l) => l.startsWith('POST /token/refresh')), ['POST /token/refresh 200']);
    assert.deepEqual(log.filter((l) => l.endsWith(' 401')), []);
    await due.logout();
  });

  test('refreshLock: two clients (tabs) sharing a stored session refresh it once, the second adopting what the first stored', async () => {
    const log: string[] = [];
    const first = await user({ autoRefresh: false });
    let stored: Session | undefined = first.client.session;
    // A lock as navigator.locks gives it: one task at a time, in order.
    let queue: Promise<unknown> = Promise.resolve();
    const tab = (): BrokerClient => {
      const tabClient: BrokerClient = new BrokerClient({
        url: b.url,
        fetch: loggingFetch(log),
        autoRefresh: false,
        ...(stored ? { session: stored } : {}),
        onSessionChange: (session) => {
          stored = session;
        },
        refreshLock: <T>(task: () => Promise<T>): Promise<T> => {
          const run = queue.then(() => {
            tabClient.setSession(stored); // what another tab stored while we waited
            return task();
          });
          queue = run.catch(() => undefined);
          return run;
        },
      });
      return tabClient;
    };
    const [a, c] = [tab(), tab()];
    const [fromA, fromC] = await Promise.all([a.refresh(), c.refresh()]);
    assert.deepEqual(log, ['POST /token/refresh 200'], 'one refresh for both tabs');
    assert.equal(fromA.token, fromC.token);
    assert.equal(c.session?.refreshToken, stored?.refreshToken);
    await Promise.all([a.me(), c.me()]);
    assert.deepEqual(log.filter((l) => l.endsWith(' 401')), [], 'the session lives on');
    await a.logout();
  });

  test('logout ends the session at Broker: its token and refresh token are refused at once', async () => {
    const tokens: (string | undefined)[] = [];
    const { client } = await user({ onTokenChange: (t) => tokens.push(t) });
    const session = client.session;
    assert.equal(await meStatus(session?.token), 200);
    const done = client.logout();
    assert.equal(client.token, undefined, 'forgotten before logout() returns');
    assert.equal(client.session, undefined);
    assert.deepEqual(tokens, [session?.token, undefined]);
    assert.equal(await done, true);
    assert.equal(await meStatus(session?.token), 401);
    assert.equal(await spend(session?.refreshToken), 401);
    assert.equal(await client.logout(), false, 'nothing to end');
    // With an expired access token, the refresh token still ends the session.
    const late = await user({ autoRefresh: false });
    const lateSession = late.client.session;
    await expired(late.client);
    assert.equal(await late.client.logout(), true);
    assert.equal(await spend(lateSession?.refreshToken), 401);
  });

  test('me, updateMe, pending and pendingAll; changePassword keeps the new pair and ends the other sessions', async () => {
    const { client, id, username } = await user();
    assert.deepEqual(await client.me(), { id, username, info: null, roles: [] });
    assert.deepEqual(await client.updateMe({ team: 'red' }), { id, username, info: { team: 'red' }, roles: [] });
    assert.deepEqual((await client.me()).info, { team: 'red' });

    const name = unique('later');
    const inAnHour = Math.floor(Date.now() / 1000) + 3600;
    const ids: string[] = [];
    for (let n = 0; n < 3; n++) ids.push((await client.insert({ event: name, data: { n }, timestamp: inAnHour + n })).id);
    await client.insert({ event: name, data: 'now' });
    const first = await client.pending<{ n: number }>({ limit: 2 });
    assert.deepEqual(first.events.map((e) => e.id), ids.slice(0, 2));
    assert.equal(first.events[0]?.published, false);
    assert.ok(first.next);
    const second = await client.pending({ limit: 2, after: first.next });
    assert.deepEqual(second.events.map((e) => e.id), ids.slice(2));
    assert.equal(second.next, undefined);
    await client.cancel(ids[1] as string);
    const all: string[] = [];
    for await (const e of client.pendingAll({ pageSize: 1 })) all.push(e.id);
    assert.deepEqual(all, [ids[0], ids[2]]);

    const elsewhere = new BrokerClient({ url: b.url });
    await elsewhere.login({ username, password: PASSWORD });
    const before = client.session;
    const token = await client.changePassword(PASSWORD, 'a new password');
    assert.equal(client.token, token);
    assert.notEqual(client.session?.refreshToken, before?.refreshToken);
    assert.equal((await client.me()).id, id);
    assert.equal(await meStatus(before?.token), 401, 'this session ended too, replaced by the new one');
    await assert.rejects(elsewhere.me(), { status: 401 });
    assert.equal(elsewhere.session, undefined, 'the other client found its session over');
    await elsewhere.login({ username, password: 'a new password' });
  });

  test('admin calls: list (search, pages), get, update roles, disable (the user is refused), last_admin, delete; 403 for others', async () => {
    const prefix = unique('adm');
    const adminName = `${prefix}-root`;
    await b.broker.core.deps.users.create({ username: adminName, password: PASSWORD, info: null, roles: ['admin'] });
    const admin = new BrokerClient({ url: b.url });
    await admin.login({ username: adminName, password: PASSWORD });
    const adminId = (await admin.me()).id;
    const people = [];
    for (const n of [1, 2, 3]) {
      const c = new BrokerClient({ url: b.url });
      const username = `${prefix}-user${n}`;
      const { id } = await c.createUser({ username, password: PASSWORD, info: { n } });
      await c.login({ username, password: PASSWORD });
      people.push({ client: c, id, username });
    }
    const [ann, bob, cat] = people as [(typeof people)[number], (typeof people)[number], (typeof people)[number]];

    await assert.rejects(ann.client.listUsers(), { status: 403, code: 'forbidden' });
    const all = await admin.listUsers({ search: prefix });
    assert.deepEqual(all.users.map((u) => u.username), [adminName, ann.username, bob.username, cat.username]);
    assert.equal(all.next, undefined);
    const page1 = await admin.listUsers({ search: prefix, limit: 2 });
    assert.equal(page1.users.length, 2);
    assert.ok(page1.next);
    const page2 = await admin.listUsers({ search: prefix, limit: 2, after: page1.next });
    assert.deepEqual([...page1.users, ...page2.users].map((u) => u.id), all.users.map((u) => u.id));
    assert.deepEqual(await admin.listUsers({ search: `${prefix}-USER2` }).then((p) => p.users.map((u) => u.id)), [bob.id]);

    const got = await admin.getUser<{ n: number }>(ann.id);
    assert.equal(got.username, ann.username);
    assert.deepEqual(got.info, { n: 1 });
    assert.equal(got.disabled, false);
    assert.equal(typeof got.created_at, 'number');

    // Roles: an editor may write news.
    await assert.rejects(bob.client.insert({ event: `news.${prefix}`, data: 1 }), { status: 403, code: 'forbidden' });
    assert.deepEqual((await admin.updateUser(bob.id, { roles: ['editor'] })).roles, ['editor']);
    await bob.client.insert({ event: `news.${prefix}`, data: 1 }); // refused token (roles changed): refreshed, retried
    assert.deepEqual((await bob.client.me()).roles, ['editor']);

    // Disabled: the next call fails, the session is over, and so is logging in.
    assert.equal((await admin.updateUser(ann.id, { disabled: true })).disabled, true);
    await assert.rejects(ann.client.me(), { status: 401 });
    assert.equal(ann.client.session, undefined);
    await assert.rejects(ann.client.login({ username: ann.username, password: PASSWORD }), { status: 403, code: 'user_disabled' });
    await admin.updateUser(ann.id, { disabled: false, password: 'reset password' });
    await ann.client.login({ username: ann.username, password: 'reset password' });

    await assert.rejects(admin.updateUser(adminId, { disabled: true }), { status: 400, code: 'last_admin' });
    await assert.rejects(admin.updateUser(adminId, { roles: [] }), { status: 400, code: 'last_admin' });
    await assert.rejects(admin.deleteUser(adminId), { status: 400, code: 'last_admin' });
    assert.deepEqual(await admin.deleteUser(cat.id), { id: cat.id, deleted: true });
    await assert.rejects(admin.getUser(cat.id), { status: 404 });
    await assert.rejects(cat.client.me(), { status: 401 });
  });

  test('a token-bound pattern subscription lives through token expiries: it renews the token and resumes, nothing lost or repeated', async () => {
    const alice = await user();
    const bob = await user();
    const mine = `private.${alice.id}`;
    let n = 0;
    let insertedWhileDown = 0;
    const writes: Promise<unknown>[] = [];
    const insertNext = (): Promise<unknown> => {
      n += 1;
      const write = alice.client.insert({ event: `${mine}.${n % 2 === 0 ? 'orders' : 'notes.x'}`, data: { n } });
      writes.push(write);
      if (n % 5 === 0) writes.push(bob.client.insert({ event: `private.${bob.id}.orders`, data: { n: -n } }));
      return write;
    };
    const events: StreamEvent<{ n: number }>[] = [];
    const statuses: ConnectionStatus[] = [];
    const sub = alice.client.subscribe<{ n: number }>({
      events: [`${mine}.>`],
      auth: true,
      onEvent: (e) => events.push(e),
      onStatus: (status) => {
        statuses.push(status);
        // The old stream is gone: an event inserted now must come with the resume.
        if (status.state === 'reconnecting' && status.error?.message === 'the token expired') {
          insertedWhileDown += 1;
          void insertNext();
        }
      },
    });
    const others = record<{ n: number }>(bob.client, { events: ['private.>'], auth: true });
    // 'auto' sends the token once an exact private name is refused to the anonymous.
    const auto = record<{ n: number }>(alice.client, { events: [`${mine}.orders`] });
    try {
      await waitUntil(() => [sub, others.sub, auto.sub].every((x) => x.status.state === 'open'), 5000, 'open');
      assert.equal(sub.status.transport, 'fetch');
      // Insert before, during and after the stream's reconnections, until two token expiries
      // (EXPIRY 3 s) have been lived through, then a few more.
      const renewals = (): number => statuses.filter((s) => s.state === 'reconnecting' && s.error?.message === 'the token expired').length;
      while (renewals() < 2) {
        await insertNext();
        // Paced by the events' arrival (not a sleep): at most five in flight.
        await waitUntil(() => events.length >= n - 5 || renewals() >= 2, 5000, `event ${n - 5}`, 5);
      }
      for (let i = 0; i < 5; i++) await insertNext();
      await Promise.all(writes);
      await waitUntil(() => events.length === n, 5000, `all ${n} events`);
      assert.deepEqual(events.map((e) => e.data.n), Array.from({ length: n }, (_, i) => i + 1), 'every event once, in order');
      const ids = events.map((e) => Number(e.id));
      assert.ok(ids.every((id, i) => i === 0 || id > (ids[i - 1] ?? 0)), 'ids increase');
      assert.ok(events.every((e) => e.event.startsWith(`${mine}.`)));
      assert.equal(insertedWhileDown, 2);
      assert.ok(statuses.filter((s) => s.state === 'open').length >= 3, 'reopened after each expiry');
      assert.notEqual(sub.status.state, 'closed');
      await waitUntil(() => others.events.length > 0 && auto.events.length > 0, 5000, "bob's and the auto stream's events");
      assert.ok(others.events.every((e) => e.event.startsWith(`private.${bob.id}.`)), 'bob sees only his private names');
      assert.ok(auto.events.every((e) => e.event === `${mine}.orders`));
      assert.equal(auto.sub.status.transport, 'fetch');
    } finally {
      sub.close();
      others.sub.close();
      auto.sub.close();
    }
  });

  test('when refreshing fails (the session is over), the token-bound subscription closes for good with the error', async () => {
    const sessions: (Session | undefined)[] = [];
    // No timer: only the test spends the refresh token (renewing a stream refreshes regardless).
    const alice = await user({ onSessionChange: (s) => sessions.push(s), autoRefresh: false });
    const name = `private.${alice.id}.inbox`;
    const r = record<number>(alice.client, { events: [name], auth: true });
    try {
      await waitUntil(() => r.sub.status.state === 'open', 5000, 'open');
      await alice.client.insert({ event: name, data: 1 });
      await waitUntil(() => r.events.length === 1, 5000, 'the event');
      // Someone spends the client's refresh token, then presents it again: Broker ends the
      // session, revokes its tokens and closes its streams. The client's own refresh token is
      // now spent, so renewing fails: closed for good.
      const stolen = alice.client.session?.refreshToken;
      assert.equal(await spend(stolen), 200);
      assert.equal(await spend(stolen), 401);
      await waitUntil(() => r.sub.status.state === 'closed', 5000, 'closed');
      const error = r.sub.status.error;
      assert.ok(error instanceof BrokerError);
      assert.equal(error.status, 401);
      assert.equal(error.code, 'unauthorized');
      assert.equal(alice.client.session, undefined);
      assert.equal(sessions.at(-1), undefined);
      const states = r.statuses.map((s) => s.state);
      assert.deepEqual(states.slice(-2), ['reconnecting', 'closed'], states.join(' → '));
      assert.equal(r.statuses.at(-2)?.error?.message, 'the token was revoked');
    } finally {
      r.sub.close();
    }
  });
});

describe('subscribe: reconnection against a scripted server', () => {

  test('honours retry:, parses CRLF frames split across writes, ignores comments, resumes with Last-Event-ID', async () => {
    const connections: { lastEventId: string | undefined; at: number }[] = [];
    let endedAt = 0;
    const server = http.createServer((req, res) => {
      const header = req.headers['last-event-id'];
      connections.push({ lastEventId: typeof header === 'string' ? header : undefined, at: Date.now() });
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.flushHeaders();
      if (connections.length === 1) {
        const pieces = ['retry: 80\r\n\r\n:hb\r\n\r\nid: 1\r', '\nevent: a\r\ndata: {"n"', ':1}\r\n', '\r\nid:2\nevent:a\ndata:{"n"\n', 'data::2}\n\nid:3\nevent:a\ndata:{"n":"unfinished'];
        let i = 0;
        const next = (): void => {
          const piece = pieces[i++];
          if (piece === undefined) {
            endedAt = Date.now();
            res.end();
            return;
          }
          res.write(piece, () => setImmediate(next));
        };
        next();
      } else {
        res.write('id:3\nevent:a\ndata:{"n":3}\n\n');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    // minDelayMs 60 s: only the server's retry (80 ms) can make the reconnection quick.
    const r = record<{ n: number }>(new BrokerClient({ url: `http://127.0.0.1:${port}` }), { minDelayMs: 60_000 });
    try {
      await waitUntil(() => r.events.length === 3, 5000, 'three events');
      assert.deepEqual(r.events.map((e) => [e.id, e.event, e.data.n]), [['1', 'a', 1], ['2', 'a', 2], ['3', 'a', 3]]);
      assert.deepEqual(connections.map((c) => c.lastEventId), [undefined, '2']);
      const waited = (connections[1]?.at ?? 0) - endedAt;
      assert.ok(waited >= 35 && waited < 2000, `reconnected after ${waited} ms (retry: 80 → 40–80 ms)`);
      const lost = r.statuses.find((s) => s.state === 'reconnecting');
      assert.ok(lost?.retryInMs !== undefined && lost.retryInMs >= 40 && lost.retryInMs <= 80, JSON.stringify(lost));
      assert.equal(lost.lastEventId, '2');
      assert.deepEqual(r.statuses.map((s) => s.state), ['connecting', 'open', 'reconnecting', 'reconnecting', 'open']);
    } finally {
      r.sub.close();
      server.closeAllConnections();
      server.close();
    }
  });

  test('backs off (doubling, with jitter) while the server is unreachable, and comes back with reconnect()', async () => {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const r = record(new BrokerClient({ url: `http://127.0.0.1:${port}` }), { minDelayMs: 20, maxDelayMs: 200 });
    try {
      await waitUntil(() => r.statuses.filter((s) => s.retryInMs !== undefined).length >= 6, 5000, 'six failed attempts');
      const waits = r.statuses.filter((s) => s.retryInMs !== undefined);
      waits.forEach((s, i) => {
        const cap = Math.min(200, 20 * 2 ** i);
        assert.equal(s.attempt, i + 1);
        assert.ok(s.retryInMs !== undefined && s.retryInMs >= cap / 2 && s.retryInMs <= cap, `attempt ${s.attempt}: ${s.retryInMs} ms`);
        assert.equal((s.error as BrokerError).code, 'network');
      });
      // Bring the server back and reconnect at once instead of waiting out the delay.
      const live = http.createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('id:1\nevent:back\ndata:true\n\n');
      });
      await new Promise<void>((resolve) => live.listen(port, '127.0.0.1', resolve));
      try {
        r.sub.reconnect();
        await waitUntil(() => r.events.length === 1, 5000, 'the event');
        assert.equal(r.sub.status.state, 'open');
        assert.equal(r.sub.status.attempt, 0);
      } finally {
        r.sub.close();
        live.closeAllConnections();
        live.close();
      }
    } finally {
      r.sub.close();
    }
  });

  test('a 503 is retried, a 400 closes the subscription with the error', async () => {
    let calls = 0;
    const server = http.createServer((_req, res) => {
      calls += 1;
      if (calls === 1) {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'busy', code: 'too_many_subscribers' }));
      } else {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'bad filter', code: 'invalid_input' }));
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const r = record(new BrokerClient({ url: `http://127.0.0.1:${port}` }), { minDelayMs: 10 });
    try {
      await waitUntil(() => r.sub.status.state === 'closed', 5000, 'closed');
      assert.deepEqual(r.statuses.map((s) => [s.state, (s.error as BrokerError | undefined)?.code]), [
        ['connecting', undefined],
        ['reconnecting', 'too_many_subscribers'],
        ['reconnecting', undefined],
        ['closed', 'invalid_input'],
      ]);
      assert.equal(calls, 2);
    } finally {
      r.sub.close();
      server.close();
    }
  });
});

describe('packaging', () => {
  test('the package exports broker/client and broker/react (built ES modules, nothing Node-only in the client)', async () => {
    ensureConsoleBuilt();
    // Through the package's own exports map (a package may import itself by name).
    const clientPath: string = 'broker/client';
    const reactPath: string = 'broker/react';
    const clientModule = (await import(clientPath)) as Record<string, unknown>;
    const reactModule = (await import(reactPath)) as Record<string, unknown>;
    assert.equal(typeof clientModule.BrokerClient, 'function');
    assert.equal(typeof clientModule.BrokerError, 'function');
    assert.equal(typeof reactModule.useBrokerEvent, 'function');
    assert.equal(typeof reactModule.BrokerProvider, 'function');
    const dist = new URL('../dist/client/', import.meta.url);
    for (const file of readdirSync(dist).filter((f) => f.endsWith('.js'))) {
      const source = readFileSync(new URL(file, dist), 'utf8');
      assert.doesNotMatch(source, /^(?:import|export)\b[^\n]*\bfrom ['"](?!\.)/m, `${file} imports only its own modules`);
      assert.ok(existsSync(new URL(file.replace(/\.js$/, '.d.ts'), dist)), `${file} has type declarations`);
    }
  });
});
