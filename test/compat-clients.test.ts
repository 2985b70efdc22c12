import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { EventSource, type EventSourceFetchInit } from 'eventsource';
import { insert, signUp } from './helpers/api.js';
import { startBroker, type TestBroker, tempDir } from './helpers/start-broker.js';

/** What a client handed to a listener: the MessageEvent's fields. */
interface Received {
  readonly type: string;
  readonly data: string;
  readonly lastEventId: string;
}

/** Collects messages and lets a test wait until enough have arrived (no fixed sleeps). */
class Inbox {
  readonly items: Received[] = [];
  private readonly waiters = new Set<() => void>();

  push(event: MessageEvent<unknown>): void {
    this.items.push({ type: event.type, data: String(event.data), lastEventId: event.lastEventId });
    for (const waiter of [...this.waiters]) waiter();
  }

  waitFor(check: (items: readonly Received[]) => boolean, timeoutMs: number, what: string): Promise<void> {
    if (check(this.items)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = (): void => {
        if (!check(this.items)) return;
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${JSON.stringify(this.items)}`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }
}

/** The original Broker's npm client (no types of its own). */
interface BrokerClientInstance {
  addEventListener(type: string, callback: (event: MessageEvent<unknown>) => void): void;
  close(): void;
  readState: number;
}
type BrokerClientClass = new (url: string, init?: RequestInit) => BrokerClientInstance;

/**
 * broker-client 0.0.8 is an ES module in a package without "type": "module" that imports
 * './utils' without an extension: plain Node cannot load it, tsx (which this suite runs under)
 * transpiles it. The specifier is a variable so that TypeScript does not look for its types.
 */
async function loadBrokerClient(): Promise<BrokerClientClass> {
  const specifier = 'broker-client';
  const mod = (await import(specifier)) as { default: unknown };
  const candidate = mod.default;
  const ctor =
    typeof candidate === 'function' ? candidate : (candidate as { default?: unknown } | undefined)?.default;
  assert.equal(typeof ctor, 'function', 'broker-client exports its class as default');
  return ctor as BrokerClientClass;
}

const unique = (label: string): string => `${label}-${Math.random().toString(36).slice(2, 10)}`;

describe('the original npm client broker-client 0.0.8', () => {
  let b: TestBroker;
  let token: string;
  before(async () => {
    b = await startBroker();
    token = (await signUp(b.url)).token;
  });
  after(() => b.close());

  test('gets the snapshot on connect and live events through addEventListener(name), data as the compact JSON string', async () => {
    const BrokerClient = await loadBrokerClient();
    const before1 = unique('bc-snap');
    const live = unique('bc-live');
    await insert(b.url, token, before1, { name: 'Rusty', n: 1 }, Date.now() / 1000 - 5);
    await insert(b.url, token, before1, { name: 'Rusty', n: 2 }, Date.now() / 1000 - 1); // the latest
    const snapInbox = new Inbox();
    const liveInbox = new Inbox();
    const client = new BrokerClient(`${b.url}/events`);
    client.addEventListener(before1, (e) => snapInbox.push(e));
    client.addEventListener(live, (e) => liveInbox.push(e));
    try {
      await snapInbox.waitFor((items) => items.length >= 1, 5000, 'the snapshot');
      assert.deepEqual(
        snapInbox.items.map((m) => [m.type, m.data]),
        [[before1, '{"name":"Rusty","n":2}']],
      );
      assert.match(snapInbox.items[0]?.lastEventId ?? '', /^\d+$/);

      const payload = { text: 'line1\nline2', nested: { ok: true, list: [1, 2, 3] }, quote: '"' };
      await insert(b.url, token, live, payload);
      await liveInbox.waitFor((items) => items.length >= 1, 5000, 'the live event');
      const got = liveInbox.items[0];
      assert.equal(got?.type, live);
      assert.equal(got?.data, JSON.stringify(payload), 'data is exactly the compact JSON');
      assert.ok(Number(got?.lastEventId) > Number(snapInbox.items[0]?.lastEventId), 'ids grow');
      assert.equal(snapInbox.items.length, 1, 'no duplicate of the snapshot');
    } finally {
      client.close();
    }
  });
});

describe('the WHATWG EventSource client eventsource 4.1.1', () => {
  test('snapshot, then live events in order with their ids; lastEventId on every message', async () => {
    const b = await startBroker();
    const es = { current: undefined as EventSource | undefined };
    try {
      const { token } = await signUp(b.url);
      const name = unique('es');
      await insert(b.url, token, name, { n: 0 });
      const inbox = new Inbox();
      const source = new EventSource(`${b.url}/events?event=${name}`);
      es.current = source;
      source.addEventListener(name, (e) => inbox.push(e));
      await inbox.waitFor((items) => items.length >= 1, 5000, 'the snapshot');
      for (let n = 1; n <= 5; n++) await insert(b.url, token, name, { n });
      await inbox.waitFor((items) => items.length >= 6, 5000, 'five live events');
      assert.deepEqual(
        inbox.items.map((m) => (JSON.parse(m.data) as { n: number }).n),
        [0, 1, 2, 3, 4, 5],
      );
      const ids = inbox.items.map((m) => Number(m.lastEventId));
      assert.ok(
        ids.every((id, i) => Number.isInteger(id) && id > 0 && (i === 0 || id === (ids[i - 1] ?? 0) + 1)),
        `consecutive release ids: ${ids.join(',')}`,
      );
      assert.equal(source.readyState, source.OPEN);
    } finally {
      es.current?.close();
      await b.close();
    }
  });

  test('reconnects by itself after the server restarts on the same port and database, resuming with Last-Event-ID: nothing lost, nothing twice', async () => {
    const dir = tempDir();
    let b: TestBroker | undefined = await startBroker({ RETRY: '100' }, { dir });
    let source: EventSource | undefined;
    try {
      const port = new URL(b.url).port;
      const { token } = await signUp(b.url);
      const name = unique('es-restart');
      await insert(b.url, token, name, { n: 0 });

      // A fetch that records what EventSource sends and holds reconnections until the test lets
      // them through, so that events are released while the client is away.
      const sent: { lastEventId: string | undefined }[] = [];
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let reconnecting: () => void = () => {};
      const reconnectAttempted = new Promise<void>((resolve) => {
        reconnecting = resolve;
      });
      const gatedFetch = async (url: string | URL, init: EventSourceFetchInit): Promise<Response> => {
        sent.push({ lastEventId: init.headers['Last-Event-ID'] });
        if (sent.length > 1) {
          reconnecting();
          await gate;
        }
        return fetch(url, init);
      };

      const inbox = new Inbox();
      source = new EventSource(`${b.url}/events?event=${name}`, { fetch: gatedFetch });
      source.addEventListener(name, (e) => inbox.push(e));
      await inbox.waitFor((items) => items.length >= 1, 5000, 'the snapshot');
      for (let n = 1; n <= 3; n++) await insert(b.url, token, name, { n });
      await inbox.waitFor((items) => items.length >= 4, 5000, 'three live events');
      const lastBefore = inbox.items[3]?.lastEventId;

      await b.close(); // ends the stream cleanly: EventSource schedules a reconnection
      b = undefined;
      await reconnectAttempted;
      b = await startBroker({ RETRY: '100', PORT: port }, { dir });
      assert.equal(new URL(b.url).port, port, 'the new server has the old port');
      for (let n = 4; n <= 6; n++) await insert(b.url, token, name, { n });
      release();
      await inbox.waitFor((items) => items.length >= 7, 10_000, 'the missed events after reconnecting');
      await insert(b.url, token, name, { n: 7 });
      await inbox.waitFor((items) => items.length >= 8, 5000, 'a live event after the reconnection');

      assert.deepEqual(
        sent.map((s) => s.lastEventId),
        [undefined, lastBefore],
        'the first connect has no Last-Event-ID, the reconnection sends the last id seen',
      );
      assert.deepEqual(
        inbox.items.map((m) => (JSON.parse(m.data) as { n: number }).n),
        [0, 1, 2, 3, 4, 5, 6, 7],
        'every event exactly once, in order',
      );
      const ids = inbox.items.map((m) => Number(m.lastEventId));
      assert.ok(
        ids.every((id, i) => i === 0 || id === (ids[i - 1] ?? 0) + 1),
        `consecutive ids across the restart: ${ids.join(',')}`,
      );
      assert.equal(source.readyState, source.OPEN);
    } finally {
      source?.close();
      await b?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
