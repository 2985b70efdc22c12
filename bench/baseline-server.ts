/**
 * Baseline for the benchmark: the platform limit the suite compares Broker with. Plain node:http,
 * everything in memory, no database, no auth, no framework. Same start interface (PORT, HOST,
 * HEARTBEAT_INTERVAL), same listening log line, same SSE frames and headers as Broker.
 *
 *   GET  /events      SSE: retry:3000, latest frame of each name, then live frames; ?event= filter
 *   POST /insert      next id, broadcast now (or at `timestamp`, epoch seconds, via setTimeout)
 *   POST /users       {"id"}           (stub)
 *   POST /login       {"jwt"}          (stub, no hashing)
 *   GET  /health      200
 *   GET  /metrics     nodejs_eventloop_lag_p99_seconds, measured like prom-client's default metric
 *                     (monitorEventLoopDelay, 10 ms resolution, reset on each read) — only when
 *                     LOOP_MONITOR=1: the monitor's 100 wake-ups/s cost ~1 % of a core when idle
 *
 * MAX_STREAMS (default 19,500, below the 20,000 open-files cap) bounds the open streams; beyond
 * it a stream gets 503 {"error": ...} and the server keeps serving.
 *
 * Imports node: built-ins only: the suite transpiles this file alone and runs it with plain node.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const port = Number(process.env.PORT ?? '3000');
const host = process.env.HOST ?? '127.0.0.1';
const heartbeatMs = Number(process.env.HEARTBEAT_INTERVAL ?? '15') * 1000;
const maxStreams = Number(process.env.MAX_STREAMS ?? '19500');
const MAX_BODY = 64 * 1024;

interface Stream {
  res: http.ServerResponse;
  names: Set<string> | null;
}

const streams = new Set<Stream>();
const latest = new Map<string, string>();
let seq = 0;

const loopDelay = process.env.LOOP_MONITOR === '1' ? monitorEventLoopDelay({ resolution: 10 }) : null;
loopDelay?.enable();

function release(name: string, dataJson: string): void {
  seq += 1;
  const frame = `id:${seq}\nevent:${name}\ndata:${dataJson}\n\n`;
  latest.set(name, frame);
  for (const s of streams) {
    if (s.names === null || s.names.has(name)) s.res.write(frame);
  }
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function readJson(req: http.IncomingMessage, res: http.ServerResponse, handle: (body: unknown) => void): void {
  const parts: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= MAX_BODY) parts.push(chunk);
  });
  req.on('end', () => {
    if (size > MAX_BODY) {
      sendJson(res, 413, { error: 'body too large' });
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(parts).toString('utf8'));
    } catch {
      sendJson(res, 400, { error: 'invalid JSON' });
      return;
    }
    handle(body);
  });
}

function field(body: unknown, name: string): unknown {
  return typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined;
}

function insert(body: unknown, res: http.ServerResponse): void {
  const name = field(body, 'event');
  const timestamp = field(body, 'timestamp');
  if (typeof name !== 'string' || name === '' || (timestamp !== undefined && typeof timestamp !== 'number')) {
    sendJson(res, 400, { error: 'event (string) required; timestamp must be a number' });
    return;
  }
  const dataJson = JSON.stringify(field(body, 'data') ?? null);
  const dueMs = typeof timestamp === 'number' ? timestamp * 1000 : 0;
  const delay = dueMs - Date.now();
  if (delay > 0) setTimeout(release, delay, name, dataJson);
  else release(name, dataJson);
  sendJson(res, 201, { id: randomUUID() });
}

function subscribe(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
  if (streams.size >= maxStreams) {
    res.setHeader('Connection', 'close');
    sendJson(res, 503, { error: `too many open streams (limit ${maxStreams})` });
    return;
  }
  const wanted = url.searchParams.getAll('event');
  const names = wanted.length > 0 ? new Set(wanted) : null;
  res.writeHead(200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  let first = 'retry:3000\n\n';
  for (const [name, frame] of latest) if (names === null || names.has(name)) first += frame;
  res.write(first);
  const stream: Stream = { res, names };
  streams.add(stream);
  res.on('close', () => streams.delete(stream));
}

function metrics(res: http.ServerResponse): void {
  let text = '';
  if (loopDelay !== null) {
    const p99 = loopDelay.percentile(99) / 1e9;
    loopDelay.reset();
    text =
      '# HELP nodejs_eventloop_lag_p99_seconds The 99th percentile of the recorded event loop delays.\n' +
      '# TYPE nodejs_eventloop_lag_p99_seconds gauge\n' +
      `nodejs_eventloop_lag_p99_seconds ${p99}\n`;
  }
  res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const route = `${req.method} ${url.pathname}`;
  if (route === 'GET /events') subscribe(req, res, url);
  else if (route === 'POST /insert') readJson(req, res, (body) => insert(body, res));
  else if (route === 'POST /users') readJson(req, res, () => sendJson(res, 201, { id: randomUUID() }));
  else if (route === 'POST /login') readJson(req, res, () => sendJson(res, 200, { jwt: `baseline.${randomUUID()}` }));
  else if (route === 'GET /health') sendJson(res, 200, { status: 'ok' });
  else if (route === 'GET /metrics') metrics(res);
  else sendJson(res, 404, { error: 'not found' });
});

server.on('clientError', (_err, socket) => socket.destroy());

const heartbeat = setInterval(() => {
  for (const s of streams) s.res.write(':hb\n\n');
}, heartbeatMs);

server.listen(port, host, () => {
  const addr = server.address();
  const actual = typeof addr === 'object' && addr !== null ? addr.port : port;
  const line = { level: 30, time: Date.now(), pid: process.pid, msg: 'Broker listening', url: `http://${host}:${actual}` };
  process.stdout.write(`${JSON.stringify(line)}\n`);
});

function shutdown(): void {
  clearInterval(heartbeat);
  for (const s of streams) s.res.end();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}

process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
