import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Fastify from 'fastify';
import { DISCARD_LIMIT_FACTOR, DISCARD_MAX_MS } from '../src/http/broker-plugin.js';
import { brokerFastify, createBrokerHandler } from '../src/index.js';
import { insert, request, signUp } from './helpers/api.js';
import { startBroker, tempDir } from './helpers/start-broker.js';

const BODY_LIMIT = 1024 * 1024;

/** What one POST from the client process ended with. */
type Outcome = { readonly status: number; readonly body: unknown } | { readonly error: string };

/** A body of exactly `bytes` bytes, sent with Content-Length, or chunked (no Content-Length). */
interface Upload {
  readonly bytes: number;
  readonly chunked: boolean;
}

/**
 * Node's fetch (undici) in its own process: in the server's process the two sides share one event
 * loop, and the broken connection this guards against (EPIPE, "other side closed") did not show.
 * Prints one JSON array of outcomes, in order.
 */
const CLIENT = `
const [url, token, uploads] = [process.argv[1], process.argv[2], JSON.parse(process.argv[3])];
const CHUNK = 64 * 1024;
const out = [];
for (const { bytes, chunked } of uploads) {
  const head = '{"event":"too-big","data":"', tail = '"}';
  const fill = bytes - head.length - tail.length;
  let body;
  if (!chunked) body = head + 'x'.repeat(fill) + tail;
  else {
    let left = fill;
    const enc = new TextEncoder();
    body = new ReadableStream({
      start(c) { c.enqueue(enc.encode(head)); },
      pull(c) {
        if (left <= 0) { c.enqueue(enc.encode(tail)); c.close(); return; }
        const n = Math.min(CHUNK, left);
        left -= n;
        c.enqueue(enc.encode('x'.repeat(n)));
      },
    });
  }
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token },
      body,
      duplex: 'half',
    });
    const text = await res.text();
    let parsed = text;
    try { parsed = JSON.parse(text); } catch {}
    out.push({ status: res.status, body: parsed });
  } catch (e) {
    out.push({ error: String(e.cause?.code ?? e.cause?.message ?? e.message) });
  }
}
process.stdout.write(JSON.stringify(out));
`;

function postFromAnotherProcess(url: string, token: string, uploads: readonly Upload[]): Promise<Outcome[]> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', CLIENT, url, token, JSON.stringify(uploads)],
      { timeout: 60_000, maxBuffer: 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`client failed: ${error.message}\n${stderr}`));
        else resolve(JSON.parse(stdout) as Outcome[]);
      },
    );
  });
}

const TOO_LARGE = { status: 413, body: { error: 'The request body is too large.', code: 'payload_too_large' } };

const withinBound: readonly Upload[] = [
  { bytes: 2 * BODY_LIMIT, chunked: false },
  { bytes: 8 * BODY_LIMIT, chunked: false },
  { bytes: 8 * BODY_LIMIT, chunked: true },
];

/** Every upload within the discard bound gets the JSON 413, then the API still works. */
async function expectTooLarge(base: string): Promise<void> {
  const me = await signUp(base);
  const outcomes = await postFromAnotherProcess(`${base}/insert`, me.token, withinBound);
  assert.deepEqual(outcomes, [TOO_LARGE, TOO_LARGE, TOO_LARGE]);
  const history = await request(base, 'GET', '/events/too-big', { token: me.token });
  assert.deepEqual(history.body, [], 'nothing stored');
  await insert(base, me.token, 'too-big', 'small');
}

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const libraryOptions = () => {
  const dir = tempDir();
  dirs.push(dir);
  return {
    port: 0,
    host: '127.0.0.1',
    databaseUrl: `sqlite:${join(dir, 'b.db')}`,
    secret: 'library-secret-library-secret-0123456789',
    bcryptCost: 4,
    logLevel: 'silent' as const,
    bodyLimit: BODY_LIMIT,
    env: {},
  };
};

describe('a body over BODY_LIMIT gets its 413 in Node fetch', () => {
  test('standalone: Content-Length 2× and 8× the limit, and a chunked body growing to 8×', async () => {
    const b = await startBroker({ BODY_LIMIT: String(BODY_LIMIT) });
    try {
      await expectTooLarge(b.url);
    } finally {
      await b.close();
    }
  });

  test('standalone: past the discard bound the connection is closed (413 or a reset), and Broker carries on', async () => {
    const b = await startBroker({ BODY_LIMIT: String(BODY_LIMIT) });
    try {
      const me = await signUp(b.url);
      const past = (DISCARD_LIMIT_FACTOR + 4) * BODY_LIMIT;
      const outcomes = await postFromAnotherProcess(`${b.url}/insert`, me.token, [
        { bytes: past, chunked: false },
        { bytes: past, chunked: true },
      ]);
      for (const outcome of outcomes) {
        if ('status' in outcome) assert.deepEqual(outcome, TOO_LARGE);
        else assert.match(outcome.error, /EPIPE|ECONNRESET|UND_ERR_SOCKET|other side closed/, outcome.error);
      }
      await insert(b.url, me.token, 'after-cut', 1);
    } finally {
      await b.close();
    }
  });

  test('shutdown does not wait for a slow oversized upload: it gets its 413 at once', async () => {
    const b = await startBroker({ BODY_LIMIT: String(BODY_LIMIT) });
    const me = await signUp(b.url);
    const received = new Promise<void>((resolve) => b.broker.app.server.once('request', () => resolve()));
    const socket = net.connect(Number(new URL(b.url).port), '127.0.0.1');
    let answer = '';
    socket.setEncoding('utf8').on('data', (text: string) => {
      answer += text;
    });
    socket.on('error', () => {}); // the client is cut off while sending: a reset is allowed
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.write(
      `POST /insert HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n` +
        `authorization: Bearer ${me.token}\r\ncontent-length: ${2 * BODY_LIMIT}\r\n\r\n{"event":"slow","data":"`,
    );
    await received;
    const started = Date.now();
    await b.close();
    const ms = Date.now() - started;
    await closed;
    assert.ok(ms < DISCARD_MAX_MS / 2, `close took ${ms} ms`);
    assert.match(answer, /^HTTP\/1\.1 413 /);
    assert.match(answer, /"code":"payload_too_large"/);
  });

  test('mounted in a host Fastify app (brokerFastify)', async () => {
    const host = Fastify();
    const broker = brokerFastify(libraryOptions());
    await host.register(broker.plugin, { prefix: '/rt' });
    await host.listen({ port: 0, host: '127.0.0.1' });
    try {
      await expectTooLarge(`http://127.0.0.1:${(host.server.address() as AddressInfo).port}/rt`);
    } finally {
      await host.close();
    }
  });

  test('behind a plain node:http server (createBrokerHandler)', async () => {
    const broker = await createBrokerHandler({ ...libraryOptions(), prefix: '/broker' });
    const server = http.createServer((req, res) => broker.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      await expectTooLarge(`http://127.0.0.1:${(server.address() as AddressInfo).port}/broker`);
    } finally {
      await broker.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
