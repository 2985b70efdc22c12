import assert from 'node:assert/strict';
import type { ClientHttp2Session } from 'node:http2';
import https from 'node:https';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { makeTestCa, type TestCa } from './helpers/certificates.js';
import { connectH2, H2SseStream, h2Insert, h2Request, h2SignUp } from './helpers/h2-client.js';
import { SseClient } from './helpers/sse-client.js';
import { startBroker, type TestBroker, tempDir } from './helpers/start-broker.js';

/** GET over HTTP/1.1 with TLS (Node's https client offers no ALPN: the server falls back to 1.1). */
function h1Get(url: string, ca: Buffer): Promise<{ status: number; body: string; alpn: string | false | null }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => {
          const socket = res.socket as unknown as { alpnProtocol?: string | false };
          resolve({ status: res.statusCode ?? 0, body, alpn: socket.alpnProtocol ?? null });
        });
      })
      .on('error', reject);
  });
}

describe('HTTPS with HTTP/2 and HTTP/1.1 on one port', () => {
  let certDir: string;
  let ca: TestCa;
  let b: TestBroker;
  let session: ClientHttp2Session;
  let token: string;
  const opened: ClientHttp2Session[] = [];

  async function newSession(): Promise<ClientHttp2Session> {
    const s = await connectH2(b.url, ca.ca);
    opened.push(s);
    return s;
  }

  before(async () => {
    certDir = tempDir();
    ca = makeTestCa(certDir);
    const cert = ca.issue('server');
    b = await startBroker({
      TLS_CERT: cert.certPath,
      TLS_KEY: cert.keyPath,
      ORIGIN: 'https://app.example',
      HEARTBEAT_INTERVAL: '0.2',
      // The smallest limit: a stream whose client stops reading is cut off after ~16 KiB past
      // what HTTP/2 flow control let out (the client's 64 KiB window for that stream).
      SEND_BUFFER_LIMIT: '16384',
      MAX_STREAMS_PER_IP: '0',
    });
    session = await newSession();
    token = await h2SignUp(session, `ada-${process.pid}`);
  });
  after(async () => {
    for (const s of opened) s.destroy();
    await b?.close();
    if (certDir) rmSync(certDir, { recursive: true, force: true });
  });

  test('https:// URL; ALPN picks h2 for HTTP/2 clients and HTTP/1.1 for the others; the API answers on both', async () => {
    assert.match(b.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(session.alpnProtocol, 'h2');
    const health = await h2Request(session, 'GET', '/health');
    assert.equal(health.status, 200);
    assert.deepEqual(health.body, { status: 'ok', subscribers: 0, storage: 'ok' });
    const h1 = await h1Get(`${b.url}/health`, ca.ca);
    assert.equal(h1.status, 200);
    assert.equal(h1.alpn, false);
    assert.match(h1.body, /"status":"ok"/);
  });

  test('an HTTP/2 stream: CORS headers, snapshot of the latest values, then live events', async () => {
    const name = `snap${process.pid}`;
    await h2Insert(session, token, `${name}.a`, { v: 1 });
    await h2Insert(session, token, `${name}.a`, { v: 2 });
    await h2Insert(session, token, `${name}.b`, { v: 1 });
    const s = new H2SseStream(session, `/events?event=${name}.a&event=${name}.b`, { origin: 'https://app.example' });
    await s.waitForEvents(2);
    assert.equal(s.status, 200);
    assert.equal(s.headers['content-type'], 'text/event-stream; charset=utf-8');
    assert.equal(s.headers['cache-control'], 'no-cache, no-transform');
    assert.equal(s.headers['x-accel-buffering'], 'no');
    assert.equal(s.headers['access-control-allow-origin'], 'https://app.example');
    assert.equal(s.headers.connection, undefined);
    assert.equal(s.frames[0]?.retry, '3000');
    assert.deepEqual(
      s.events.map((e) => [e.event, e.data]),
      [
        [`${name}.a`, '{"v":2}'],
        [`${name}.b`, '{"v":1}'],
      ],
    );
    await h2Insert(session, token, `${name}.b`, { v: 2 });
    await s.waitForEvents(3);
    assert.deepEqual([s.events[2]?.event, s.events[2]?.data], [`${name}.b`, '{"v":2}']);
    assert.ok(s.ids.every((id, i) => i === 0 || id > (s.ids[i - 1] ?? 0)), `ids increase: ${s.ids}`);
    s.close();
  });

  test('resume over HTTP/2: Last-Event-ID replays exactly what came after it, then goes live', async () => {
    const name = `resume${process.pid}`;
    const first = new H2SseStream(session, `/events?event=${name}`);
    await first.waitFor(() => first.status === 200, 10_000, 'the stream to open');
    for (let i = 1; i <= 4; i++) await h2Insert(session, token, name, { i });
    await first.waitForEvents(4);
    const seen = first.ids;
    first.close();
    const resumed = new H2SseStream(session, `/events?event=${name}`, { 'last-event-id': String(seen[1]) });
    await resumed.waitForEvents(2);
    assert.deepEqual(resumed.ids, seen.slice(2));
    assert.deepEqual(
      resumed.events.map((e) => e.data),
      ['{"i":3}', '{"i":4}'],
    );
    await h2Insert(session, token, name, { i: 5 });
    await resumed.waitForEvents(3);
    assert.equal(resumed.events[2]?.data, '{"i":5}');
    resumed.close();
  });

  test('heartbeats reach HTTP/2 streams', async () => {
    const s = new H2SseStream(session, '/events?event=nothing.here');
    await s.waitFor(() => s.frames.filter((f) => f.comment === 'hb').length >= 2, 10_000, 'two heartbeats');
    s.close();
  });

  test('HTTP/1.1 over TLS on the same port streams as before: Connection: close, no chunked framing', async () => {
    const name = `h1tls${process.pid}`;
    const s = await SseClient.connect(`${b.url}/events?event=${name}`, { origin: 'https://app.example' }, { ca: ca.ca });
    assert.equal(s.status, 200);
    assert.equal(s.headers.connection, 'close');
    assert.equal(s.headers['transfer-encoding'], undefined);
    assert.equal(s.headers['access-control-allow-origin'], 'https://app.example');
    await h2Insert(session, token, name, { over: 'tls' });
    await s.waitForEvents(1);
    assert.equal(s.events[0]?.data, '{"over":"tls"}');
    s.close();
  });

  test('a slow HTTP/2 stream is reset (RST_STREAM); its sibling on the same connection and a stream on another connection get every event', async () => {
    const name = `slow${process.pid}`;
    const other = await newSession();
    const slow = new H2SseStream(session, `/events?event=${name}`);
    const sibling = new H2SseStream(session, `/events?event=${name}`);
    const elsewhere = new H2SseStream(other, `/events?event=${name}`);
    for (const s of [slow, sibling, elsewhere]) await s.waitFor(() => s.frames.length >= 1, 10_000, 'the retry frame');
    // The slow client stops reading: its stream window fills, then the server's queue for it.
    slow.req.pause();
    const payload = 'x'.repeat(8 * 1024);
    let sent = 0;
    while (slow.outcome === undefined && sent < 200) {
      await h2Insert(session, token, name, { n: sent, payload });
      sent += 1;
    }
    await slow.waitForOutcome();
    assert.equal(slow.outcome, 'reset');
    assert.equal(slow.rstCode, 8, 'NGHTTP2_CANCEL');
    assert.ok(sent > 8 && sent < 200, `${sent} events of 8 KiB before the cut-off`);
    // The others go on, on the slow one's connection too.
    await h2Insert(session, token, name, { n: sent, payload: 'last' });
    sent += 1;
    for (const s of [sibling, elsewhere]) {
      await s.waitForEvents(sent, 20_000);
      assert.equal(s.outcome, undefined);
      assert.deepEqual(
        s.events.map((e) => (JSON.parse(e.data ?? '{}') as { n: number }).n),
        Array.from({ length: sent }, (_, i) => i),
      );
    }
    const metrics = await h2Request(session, 'GET', '/metrics');
    assert.match(String(metrics.body), /^broker_dropped_subscribers_total [1-9]/m);
    sibling.close();
    elsewhere.close();
  });
});

describe('HTTP/2: stream tokens, caps and shutdown', () => {
  let certDir: string;
  let ca: TestCa;
  let certPath: string;
  let keyPath: string;

  before(() => {
    certDir = tempDir();
    ca = makeTestCa(certDir);
    ({ certPath, keyPath } = ca.issue('server'));
  });
  after(() => rmSync(certDir, { recursive: true, force: true }));

  test('STREAM_AUTH and MAX_STREAMS_PER_USER hold over HTTP/2: 401 without a token, 429 past the cap', async () => {
    const b = await startBroker({ TLS_CERT: certPath, TLS_KEY: keyPath, STREAM_AUTH: 'true', MAX_STREAMS_PER_USER: '2' });
    const session = await connectH2(b.url, ca.ca);
    try {
      const anonymous = new H2SseStream(session, '/events');
      await anonymous.waitForOutcome();
      assert.equal(anonymous.status, 401);
      assert.match(anonymous.body, /"code":"unauthorized"/);
      const token = await h2SignUp(session, `cap-${process.pid}`);
      const auth = { authorization: `Bearer ${token}` };
      const streams = [new H2SseStream(session, '/events', auth), new H2SseStream(session, '/events', auth)];
      for (const s of streams) await s.waitFor(() => s.status === 200, 10_000, 'the stream to open');
      const third = new H2SseStream(session, '/events', auth);
      await third.waitForOutcome();
      assert.equal(third.status, 429);
      assert.equal(third.headers['retry-after'], '30');
      // A stream that ends gives its slot back.
      streams[0]?.close();
      await streams[0]?.waitForOutcome();
      const again = new H2SseStream(session, '/events', auth);
      await again.waitFor(() => again.status !== 0, 10_000, 'an answer');
      assert.equal(again.status, 200);
    } finally {
      session.destroy();
      await b.close();
    }
  });

  test('MAX_STREAMS_PER_IP counts HTTP/2 streams by the client address, across connections', async () => {
    const b = await startBroker({ TLS_CERT: certPath, TLS_KEY: keyPath, MAX_STREAMS_PER_IP: '2' });
    const sessions = [await connectH2(b.url, ca.ca), await connectH2(b.url, ca.ca)];
    try {
      const [one, two] = sessions as [ClientHttp2Session, ClientHttp2Session];
      const held = [new H2SseStream(one, '/events'), new H2SseStream(two, '/events')];
      for (const s of held) await s.waitFor(() => s.status === 200, 10_000, 'the stream to open');
      for (const session of sessions) {
        const refused = new H2SseStream(session, '/events');
        await refused.waitForOutcome();
        assert.equal(refused.status, 429);
        assert.match(refused.body, /"code":"too_many_streams"/);
      }
    } finally {
      for (const s of sessions) s.destroy();
      await b.close();
    }
  });

  test('close() ends HTTP/2 streams cleanly and sends GOAWAY, without waiting for SHUTDOWN_TIMEOUT', async () => {
    const b = await startBroker({ TLS_CERT: certPath, TLS_KEY: keyPath, SHUTDOWN_TIMEOUT: '30' });
    const busy = await connectH2(b.url, ca.ca);
    const idle = await connectH2(b.url, ca.ca);
    const goaways: string[] = [];
    busy.on('goaway', () => goaways.push('busy'));
    idle.on('goaway', () => goaways.push('idle'));
    const streams = [new H2SseStream(busy, '/events'), new H2SseStream(busy, '/events')];
    const h1 = await SseClient.connect(`${b.url}/events`, {}, { ca: ca.ca });
    for (const s of streams) await s.waitFor(() => s.frames.length >= 1, 10_000, 'the retry frame');
    await h1.waitFor(() => h1.frames.length >= 1, 10_000, 'the retry frame');
    const started = Date.now();
    await b.close();
    const took = Date.now() - started;
    assert.ok(took < 5000, `close took ${took} ms`);
    for (const s of streams) {
      await s.waitForOutcome();
      assert.equal(s.outcome, 'ended');
    }
    await h1.waitForClose();
    assert.deepEqual(goaways.sort(), ['busy', 'idle']);
    busy.destroy();
    idle.destroy();
  });
});
