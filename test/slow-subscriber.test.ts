import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { insert, metrics, metricValue, request, signUp } from './helpers/api.js';
import { SseClient } from './helpers/sse-client.js';
import { startBroker } from './helpers/start-broker.js';

const dropped = async (url: string): Promise<number> => metricValue(await metrics(url), 'broker_dropped_subscribers_total');

test('a subscriber that stops reading is cut off while a fast one receives everything', async () => {
  const b = await startBroker({ SEND_BUFFER_LIMIT: String(64 * 1024) });
  const { token } = await signUp(b.url);
  const port = new URL(b.url).port;
  // The slow client sends its request, then never reads a byte.
  const slow = net.connect(Number(port), '127.0.0.1');
  slow.on('error', () => {});
  await new Promise<void>((resolve) => slow.once('connect', resolve));
  slow.write(`GET /events?event=big HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
  slow.pause();
  const fast = await SseClient.connect(`${b.url}/events?event=big`);
  try {
    await fast.waitFor(() => fast.frames.length >= 1, 5000, 'retry frame');
    const blob = 'x'.repeat(100 * 1024);
    // Enough bytes to fill the slow client's kernel buffers (a few MB on loopback) and then ours;
    // bounded: at most 300 events (~30 MB).
    let sent = 0;
    while (sent < 300 && (await dropped(b.url)) === 0) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => insert(b.url, token, 'big', { i: sent + i, blob })));
      sent += 10;
    }
    assert.equal(await dropped(b.url), 1, `slow subscriber dropped after ${sent} events`);
    await fast.waitForEvents(sent, 20_000);
    const ids = fast.ids;
    assert.equal(ids.length, sent, 'fast subscriber got every event');
    assert.equal(new Set(ids).size, ids.length, 'no duplicates');
    const health = await request(b.url, 'GET', '/health');
    assert.equal((health.body as { subscribers: number }).subscribers, 1, 'the dropped stream is reclaimed');
  } finally {
    fast.close();
    slow.destroy();
    await b.close();
  }
});

test('a closed client socket is reclaimed at once', async () => {
  const b = await startBroker();
  try {
    const c = await SseClient.connect(`${b.url}/events`);
    await c.waitFor(() => c.frames.length >= 1, 5000, 'retry frame');
    const count = async () => ((await request(b.url, 'GET', '/health')).body as { subscribers: number }).subscribers;
    assert.equal(await count(), 1);
    c.close();
    const deadline = Date.now() + 5000;
    while ((await count()) !== 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    assert.equal(await count(), 0);
  } finally {
    await b.close();
  }
});

test('streams beyond MAX_SUBSCRIBERS get 503 with a JSON body, and the server keeps serving', async () => {
  const b = await startBroker({ MAX_SUBSCRIBERS: '2' });
  const open = [await SseClient.connect(`${b.url}/events`), await SseClient.connect(`${b.url}/events`)];
  try {
    await Promise.all(open.map((c) => c.waitFor(() => c.frames.length >= 1, 5000, 'retry frame')));
    const extra = await request(b.url, 'GET', '/events');
    assert.equal(extra.status, 503);
    assert.equal((extra.body as { code: string }).code, 'too_many_subscribers');
    assert.ok(extra.headers.get('retry-after'));
    assert.equal((await request(b.url, 'GET', '/health')).status, 200);
  } finally {
    for (const c of open) c.close();
    await b.close();
  }
});
