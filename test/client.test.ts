import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { EventSource as NodeEventSource } from 'eventsource';
import {
  BrokerClient,
  BrokerError,
  type ConnectionStatus,
  type EventSourceConstructor,
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
    assert.throws(() => new BrokerClient(), /url is required/);
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
