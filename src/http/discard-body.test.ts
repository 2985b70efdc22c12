import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { type DiscardLimits, type DiscardOutcome, discardBody } from './discard-body.js';

// A server whose every request is handed to discardBody with the limits the test sets; the
// outcome (and how long it took, ms) is what the test awaits. Requests are written by hand on a
// raw socket so that the test decides when each byte arrives.
let limits: DiscardLimits = { maxBytes: 1000, maxMs: 5000 };
let outcomes: ((result: { outcome: DiscardOutcome; ms: number }) => void)[] = [];
const server = http.createServer((req, res) => {
  const started = Date.now();
  void discardBody(req, limits).then((outcome) => {
    outcomes.shift()?.({ outcome, ms: Date.now() - started });
    res.setHeader('connection', 'close');
    res.end(outcome);
  });
});
let port = 0;
before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
after(() => new Promise((resolve) => server.close(resolve)));

/** Opens a connection, writes `head`, and returns the next discardBody outcome and the socket. */
async function send(head: string): Promise<{ socket: net.Socket; result: Promise<{ outcome: DiscardOutcome; ms: number }> }> {
  const result = new Promise<{ outcome: DiscardOutcome; ms: number }>((resolve) => outcomes.push(resolve));
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {}); // a cut connection may be reset: that is the point
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(head);
  return { socket, result };
}

const post = (headers: string): string => `POST / HTTP/1.1\r\nhost: x\r\n${headers}\r\n`;
const chunk = (text: string): string => `${text.length.toString(16)}\r\n${text}\r\n`;

test('a body that arrives within the bounds is read to its end', async () => {
  outcomes = [];
  limits = { maxBytes: 1000, maxMs: 5000 };
  const { socket, result } = await send(`${post('content-length: 1000\r\n')}${'a'.repeat(400)}`);
  setTimeout(() => socket.write('b'.repeat(600)), 50);
  assert.equal((await result).outcome, 'drained');
  socket.destroy();
});

test('a chunked body is read to its last chunk, and one already received counts as read', async () => {
  outcomes = [];
  limits = { maxBytes: 1000, maxMs: 5000 };
  const chunked = await send(`${post('transfer-encoding: chunked\r\n')}${chunk('x'.repeat(300))}`);
  setTimeout(() => chunked.socket.write(`${chunk('y'.repeat(300))}0\r\n\r\n`), 50);
  assert.equal((await chunked.result).outcome, 'drained');
  chunked.socket.destroy();
  const whole = await send(`${post('content-length: 5\r\n')}hello`);
  assert.equal((await whole.result).outcome, 'drained');
  whole.socket.destroy();
});

test('a declared length over maxBytes is cut at once, without reading', async () => {
  outcomes = [];
  limits = { maxBytes: 1000, maxMs: 5000 };
  const { socket, result } = await send(`${post('content-length: 1001\r\n')}${'a'.repeat(10)}`);
  const { outcome, ms } = await result;
  assert.equal(outcome, 'cut');
  assert.ok(ms < 1000, `${ms} ms`);
  socket.destroy();
});

test('a chunked body growing past maxBytes is cut', async () => {
  outcomes = [];
  limits = { maxBytes: 1000, maxMs: 5000 };
  const { socket, result } = await send(`${post('transfer-encoding: chunked\r\n')}${chunk('x'.repeat(600))}`);
  setTimeout(() => socket.write(chunk('y'.repeat(600))), 50);
  assert.equal((await result).outcome, 'cut');
  socket.destroy();
});

test('a slow sender is cut after maxMs', async () => {
  outcomes = [];
  limits = { maxBytes: 1000, maxMs: 200 };
  const { socket, result } = await send(`${post('content-length: 1000\r\n')}${'a'.repeat(10)}`);
  const { outcome, ms } = await result;
  assert.equal(outcome, 'cut');
  assert.ok(ms >= 190, `cut after ${ms} ms, not before the 200 ms bound`);
  socket.destroy();
});

test('the abort signal (shutdown) cuts the wait at once', async () => {
  outcomes = [];
  const controller = new AbortController();
  limits = { maxBytes: 1000, maxMs: 5000, signal: controller.signal };
  const { socket, result } = await send(`${post('content-length: 1000\r\n')}${'a'.repeat(10)}`);
  setTimeout(() => controller.abort(), 50);
  const { outcome, ms } = await result;
  assert.equal(outcome, 'cut');
  assert.ok(ms < 2000, `${ms} ms`);
  socket.destroy();
});

test('a client that goes away is a cut', async () => {
  outcomes = [];
  limits = { maxBytes: 1000, maxMs: 5000 };
  const { socket, result } = await send(`${post('content-length: 1000\r\n')}${'a'.repeat(10)}`);
  setTimeout(() => socket.destroy(), 50);
  const { outcome, ms } = await result;
  assert.equal(outcome, 'cut');
  assert.ok(ms < 2000, `${ms} ms`);
});
