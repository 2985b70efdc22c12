import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { insert, nowSeconds, request, signUp } from './helpers/api.js';
import { SseClient } from './helpers/sse-client.js';
import { backends } from './helpers/backends.js';
import { startBroker, type TestBroker } from './helpers/start-broker.js';

const unique = (label: string): string => `${label}-${Math.random().toString(36).slice(2, 10)}`;

for (const backend of backends) {
describe(`GET /events stream (${backend.name})`, { skip: backend.skip }, () => {
  let b: TestBroker;
  let token: string;
  let dropDatabase: () => Promise<void> = async () => {};
  before(async () => {
    const db = await backend.database();
    dropDatabase = db.cleanup;
    b = await startBroker(db.env);
    token = (await signUp(b.url)).token;
  });
  after(async () => {
    await b.close();
    await dropDatabase();
  });

  test('sends retry first and proxy-safe headers, frames as field:value without a space', async () => {
    const name = unique('fmt');
    await insert(b.url, token, name, { name: 'Rusty', text: 'line1\nline2' });
    const c = await SseClient.connect(`${b.url}/events?event=${name}`);
    try {
      await c.waitForEvents(1);
      assert.equal(c.status, 200);
      assert.match(String(c.headers['content-type']), /^text\/event-stream/);
      assert.match(String(c.headers['cache-control']), /no-cache/);
      assert.equal(c.headers['x-accel-buffering'], 'no');
      assert.equal(c.frames[0]?.retry, '3000');
      const frame = c.events[0];
      assert.equal(frame?.event, name);
      assert.deepEqual(JSON.parse(frame?.data ?? ''), { name: 'Rusty', text: 'line1\nline2' });
      assert.match(String(frame?.id), /^\d+$/);
    } finally {
      c.close();
    }
  });

  test('snapshot on connect: the newest timestamp wins, not the last inserted', async () => {
    const name = unique('snap');
    const t = nowSeconds();
    await insert(b.url, token, name, { v: 'newest' }, t - 10);
    await insert(b.url, token, name, { v: 'backdated' }, t - 100);
    const other = unique('snap-other');
    await insert(b.url, token, other, { v: 'other' }, t - 50);
    // An insert is acknowledged at commit; its release follows. Connect once all three are out,
    // so that what arrives is the snapshot alone (a later release would rightly come live).
    const released = async (n: string, count: number) => {
      const h = await request(b.url, 'GET', `/events/${n}`, { token });
      return (h.body as { published: boolean }[]).filter((e) => e.published).length === count;
    };
    const deadline = Date.now() + 5000;
    while (!((await released(name, 2)) && (await released(other, 1)))) {
      assert.ok(Date.now() < deadline, 'the three events were released');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const c = await SseClient.connect(`${b.url}/events?event=${name}&event=${other}`);
    try {
      await c.waitForEvents(2);
      // A marker released after connecting proves nothing else was queued before it.
      await insert(b.url, token, other, { v: 'marker' });
      await c.waitForEvents(3);
      const [first, second, marker] = c.events;
      const byName = new Map([first, second].map((f) => [f?.event, JSON.parse(f?.data ?? '') as unknown]));
      assert.deepEqual(byName.get(name), { v: 'newest' });
      assert.deepEqual(byName.get(other), { v: 'other' });
      assert.deepEqual(JSON.parse(marker?.data ?? ''), { v: 'marker' }, 'one frame per name in the snapshot, then live');
      assert.equal(c.events.length, 3);
    } finally {
      c.close();
    }
  });

  test('a future event arrives at its time, not before, exactly once to each of many subscribers', async () => {
    const name = unique('future');
    const clients = await Promise.all(
      Array.from({ length: 50 }, () => SseClient.connect(`${b.url}/events?event=${name}`)),
    );
    try {
      await Promise.all(clients.map((c) => c.waitFor(() => c.frames.length >= 1, 5000, 'retry frame')));
      const due = nowSeconds() + 0.8;
      await insert(b.url, token, name, { at: due }, due);
      await Promise.all(clients.map((c) => c.waitForEvents(1, 5000)));
      // Let any duplicate arrive: a later event on the same stream proves the pipe is flushed.
      await insert(b.url, token, name, { marker: true });
      await Promise.all(clients.map((c) => c.waitForEvents(2, 5000)));
      for (const c of clients) {
        assert.equal(c.events.length, 2);
        const first = c.events[0];
        assert.ok(first && first.receivedAt >= due * 1000, `arrived ${first && due * 1000 - first.receivedAt} ms early`);
        assert.deepEqual(JSON.parse(c.events[1]?.data ?? ''), { marker: true });
      }
    } finally {
      for (const c of clients) c.close();
    }
  });

  test('a cancelled future event never arrives', async () => {
    const name = unique('cancel');
    const c = await SseClient.connect(`${b.url}/events?event=${name}`);
    try {
      const due = nowSeconds() + 0.5;
      const id = await insert(b.url, token, name, { cancelled: true }, due);
      const res = await request(b.url, 'POST', `/events/${id}/cancel`, { token });
      assert.equal(res.status, 200);
      // A second event due after the cancelled one: once it arrives, the cancelled one's time has passed.
      await insert(b.url, token, name, { after: true }, due + 0.3);
      await c.waitForEvents(1, 5000);
      assert.deepEqual(
        c.events.map((f) => JSON.parse(f.data ?? '') as unknown),
        [{ after: true }],
      );
    } finally {
      c.close();
    }
  });

  test('resume with Last-Event-ID replays exactly the missed events, in order, then live', async () => {
    const name = unique('resume');
    const first = await SseClient.connect(`${b.url}/events?event=${name}`);
    await insert(b.url, token, name, { n: 1 });
    await first.waitForEvents(1);
    const lastId = first.events[0]?.id ?? '';
    first.close();
    for (let n = 2; n <= 5; n++) await insert(b.url, token, name, { n });
    const resumed = await SseClient.connect(`${b.url}/events?event=${name}`, { 'last-event-id': lastId });
    try {
      await resumed.waitForEvents(4);
      await insert(b.url, token, name, { n: 6 });
      await resumed.waitForEvents(5);
      assert.deepEqual(
        resumed.events.map((f) => (JSON.parse(f.data ?? '') as { n: number }).n),
        [2, 3, 4, 5, 6],
      );
      const ids = resumed.ids;
      assert.deepEqual([...ids].sort((x, y) => x - y), ids, 'ascending ids');
      assert.equal(new Set(ids).size, ids.length, 'no duplicate ids');
    } finally {
      resumed.close();
    }
  });

  test('lastEventId query parameter works for a first connect; a bad id is a 400', async () => {
    const name = unique('q');
    const a = await insert(b.url, token, name, { n: 1 });
    assert.ok(a);
    const c1 = await SseClient.connect(`${b.url}/events?event=${name}`);
    await c1.waitForEvents(1);
    const id = c1.events[0]?.id ?? '';
    c1.close();
    await insert(b.url, token, name, { n: 2 });
    const c2 = await SseClient.connect(`${b.url}/events?event=${name}&lastEventId=${id}`);
    try {
      await c2.waitForEvents(1);
      assert.deepEqual(JSON.parse(c2.events[0]?.data ?? ''), { n: 2 });
    } finally {
      c2.close();
    }
    const bad = await SseClient.connect(`${b.url}/events`, { 'last-event-id': 'abc' });
    await bad.waitForClose();
    assert.equal(bad.status, 400);
    assert.equal((JSON.parse(bad.body) as { code: string }).code, 'invalid_input');
  });

  test('?event= filters the stream to those names', async () => {
    const a = unique('fa');
    const z = unique('fz');
    const c = await SseClient.connect(`${b.url}/events?event=${a}`);
    try {
      await insert(b.url, token, z, { skip: true });
      await insert(b.url, token, a, { keep: true });
      await c.waitForEvents(1);
      assert.deepEqual(
        c.events.map((f) => f.event),
        [a],
      );
    } finally {
      c.close();
    }
    for (const bad of ['', '%01x']) {
      const res = await request(b.url, 'GET', `/events?event=${bad}`);
      assert.equal(res.status, 400, `filter ${JSON.stringify(bad)}`);
    }
  });
});
}

describe('stream heartbeat and auth', () => {
  test('sends a heartbeat comment on the configured interval', async () => {
    const b = await startBroker({ HEARTBEAT_INTERVAL: '0.2' });
    const c = await SseClient.connect(`${b.url}/events`);
    try {
      await c.waitFor(() => c.frames.filter((f) => f.comment === 'hb').length >= 2, 3000, 'two heartbeats');
    } finally {
      c.close();
      await b.close();
    }
  });

  test('STREAM_AUTH requires a token by header, cookie or access_token query parameter', async () => {
    const b = await startBroker({ STREAM_AUTH: 'true' });
    try {
      const { token } = await signUp(b.url);
      const none = await request(b.url, 'GET', '/events');
      assert.equal(none.status, 401);
      assert.equal((none.body as { code: string }).code, 'unauthorized');
      const badToken = await request(b.url, 'GET', '/events?access_token=nope');
      assert.equal(badToken.status, 401);
      for (const [url, headers] of [
        [`${b.url}/events`, { authorization: `Bearer ${token}` }],
        [`${b.url}/events`, { cookie: `other=1; access_token=${token}` }],
        [`${b.url}/events?access_token=${token}`, {}],
      ] as const) {
        const c = await SseClient.connect(url, headers);
        await c.waitFor(() => c.frames.length >= 1, 3000, 'retry frame');
        assert.equal(c.status, 200);
        c.close();
      }
    } finally {
      await b.close();
    }
  });
});
