/**
 * Child process holding many SSE subscribers: on raw sockets (HTTP/1.1, in clear or over TLS) or
 * as streams of HTTP/2 sessions (node:http2, several streams per session). Forked by
 * SubscriberPool; talks to the parent over IPC only (see worker-protocol.ts) and exits when the
 * IPC channel closes.
 *
 * Per subscriber it keeps a bitmap of the message counters `n` it received, so it can tell
 * duplicates and gaps, and it records receive − `t` into one fixed histogram per phase `p`.
 */
import http2, { type ClientHttp2Session } from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { clockMs } from './clock.js';
import { readNumberField } from './data-fields.js';
import { type SseSink, SseParser } from './sse-parser.js';
import { Histogram } from './stats.js';
import {
  type ConnectResult,
  type ConnectSpec,
  isParentMessage,
  PHASES,
  type Progress,
  type WorkerMessage,
  type WorkerReport,
} from './worker-protocol.js';

const KEY_N = 110;
const KEY_T = 116;
const KEY_P = 112;
const EARLY_TOLERANCE_MS = 1;

const histograms: Histogram[] = Array.from({ length: PHASES }, () => new Histogram());
const totals = {
  received: 0,
  lastRecvAt: 0,
  heartbeats: 0,
  dropped: 0,
  duplicates: 0,
  unexpected: 0,
  foreign: 0,
  outOfOrder: 0,
  early: 0,
  minLatencyMs: Number.POSITIVE_INFINITY,
};
const subscribers = new Set<Subscriber>();
let openStreams = 0;
let closing = false;
/** Receive time of the socket read being parsed: all frames of one read arrived together. */
let readAt = 0;

function send(msg: WorkerMessage): void {
  // The callback swallows EPIPE when the parent closes the channel between two sends.
  if (process.send !== undefined && process.connected) process.send(msg, undefined, undefined, () => {});
}

class Subscriber implements SseSink {
  readonly parser: SseParser;
  readonly seen: Uint8Array;
  lastId = -1;
  got = 0;
  open = false;
  /** Closes the subscriber's connection (HTTP/1.1) or stream (HTTP/2). */
  close: () => void = () => {};
  private headDone: ((outcome: string, raw: string) => void) | null;

  constructor(capacity: number, onHead: (outcome: string, raw: string) => void) {
    this.parser = new SseParser(this);
    this.seen = new Uint8Array(capacity);
    this.headDone = onHead;
  }

  settle(outcome: string, raw: string): void {
    const done = this.headDone;
    this.headDone = null;
    if (done !== null) done(outcome, raw);
  }

  onHead(status: number, raw: string): void {
    if (status === 200) {
      this.open = true;
      openStreams += 1;
    }
    this.settle(String(status), raw);
  }

  onFrame(buf: Buffer, id: number, dataStart: number, dataEnd: number): void {
    const n = readNumberField(buf, dataStart, dataEnd, KEY_N);
    if (!Number.isInteger(n)) {
      totals.foreign += 1;
      return;
    }
    if (n < 0 || n >= this.seen.length) {
      totals.unexpected += 1;
      return;
    }
    if (id >= 0) {
      if (id <= this.lastId) totals.outOfOrder += 1;
      this.lastId = id;
    }
    if (this.seen[n] === 1) {
      totals.duplicates += 1;
      return;
    }
    this.seen[n] = 1;
    this.got += 1;
    totals.received += 1;
    totals.lastRecvAt = readAt;
    const t = readNumberField(buf, dataStart, dataEnd, KEY_T);
    if (Number.isNaN(t)) return;
    const latencyMs = readAt - t;
    if (latencyMs < totals.minLatencyMs) totals.minLatencyMs = latencyMs;
    if (latencyMs < -EARLY_TOLERANCE_MS) totals.early += 1;
    const p = readNumberField(buf, dataStart, dataEnd, KEY_P);
    const phase = Number.isInteger(p) && p >= 0 && p < PHASES ? p : 0;
    histograms[phase]?.record(latencyMs * 1000);
  }

  onComment(): void {
    totals.heartbeats += 1;
  }
}

/**
 * One read buffer for every socket of this worker (`onread`): no Buffer per read and no stream
 * machinery. Safe because each read is parsed synchronously and partial frames are copied.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

function openOne(spec: ConnectSpec, index: number, done: (outcome: string, raw: string) => void): void {
  const protocol = spec.protocol ?? 'http1';
  if (protocol === 'h2') openStream(spec, index, done);
  else openSocket(spec, index, done, protocol === 'http1-tls');
}

/** Counts the end of an open stream: a drop unless the worker is closing. */
function closed(sub: Subscriber): void {
  sub.settle('closed', '');
  subscribers.delete(sub);
  if (sub.open) {
    sub.open = false;
    openStreams -= 1;
    if (!closing) totals.dropped += 1;
  }
}

/** One HTTP/1.1 stream on its own connection, in clear or over TLS (the bench's certificate is not verified). */
function openSocket(spec: ConnectSpec, index: number, done: (outcome: string, raw: string) => void, secure: boolean): void {
  let sub: Subscriber | null = null;
  const onread = {
    buffer: READ_BUFFER,
    callback: (bytes: number): boolean => {
      if (sub === null) return true;
      readAt = clockMs();
      const parser = sub.parser;
      try {
        parser.push(READ_BUFFER.subarray(0, bytes));
      } catch (err) {
        sub.settle('parse-error', String(err));
        sub.close();
        return false;
      }
      if (parser.status !== 0) clearTimeout(timer);
      if (parser.status !== 0 && parser.status !== 200) sub.close();
      return true;
    },
  };
  const options: net.TcpNetConnectOpts = { host: spec.host, port: spec.port, onread, ...(spec.localAddress === null ? {} : { localAddress: spec.localAddress }) };
  const socket = secure
    ? tls.connect({ ...options, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] } as tls.ConnectionOptions & net.TcpNetConnectOpts)
    : net.connect(options);
  const current = new Subscriber(spec.capacity, done);
  current.close = () => socket.destroy();
  sub = current;
  subscribers.add(current);
  const timer = setTimeout(() => {
    current.settle('timeout', '');
    socket.destroy();
  }, spec.headTimeoutMs);
  socket.on(secure ? 'secureConnect' : 'connect', () => {
    const own = spec.requests?.[index];
    const path = own?.path ?? spec.path;
    socket.write(`GET ${path} HTTP/1.1\r\nHost: ${spec.host}:${spec.port}\r\nAccept: text/event-stream\r\n${own?.headers ?? ''}\r\n`);
  });
  socket.on('error', (err: NodeJS.ErrnoException) => {
    current.settle(err.code ?? 'error', '');
  });
  socket.on('close', () => {
    clearTimeout(timer);
    closed(current);
  });
}

/**
 * Flow-control windows of the HTTP/2 sessions, in bytes: a browser's (Chrome: 6 MiB per stream,
 * 15 MiB per connection), not Node's default 64 KiB for both, which would throttle a burst to a
 * window update per 64 KiB on each session.
 */
const H2_STREAM_WINDOW = 6 * 1024 * 1024;
const H2_SESSION_WINDOW = 15 * 1024 * 1024;
/** This worker's HTTP/2 sessions by number (stream index ÷ streams per session). */
const sessions = new Map<number, ClientHttp2Session>();

function sessionFor(spec: ConnectSpec, index: number): ClientHttp2Session {
  const key = Math.floor(index / Math.max(1, spec.streamsPerSession ?? 1));
  let session = sessions.get(key);
  if (session === undefined || session.closed || session.destroyed) {
    const opened = http2.connect(`https://${spec.host}:${spec.port}`, {
      rejectUnauthorized: false,
      settings: { initialWindowSize: H2_STREAM_WINDOW },
      ...(spec.localAddress === null ? {} : { localAddress: spec.localAddress }),
    });
    opened.on('connect', () => opened.setLocalWindowSize(H2_SESSION_WINDOW));
    // A session error closes its streams, which count it (as a drop when not closing).
    opened.on('error', () => {});
    opened.once('close', () => {
      if (sessions.get(key) === opened) sessions.delete(key);
    });
    sessions.set(key, opened);
    session = opened;
  }
  return session;
}

/** One stream on a shared HTTP/2 session. */
function openStream(spec: ConnectSpec, index: number, done: (outcome: string, raw: string) => void): void {
  const own = spec.requests?.[index];
  const headers: http2.OutgoingHttpHeaders = { ':path': own?.path ?? spec.path, accept: 'text/event-stream' };
  for (const line of (own?.headers ?? '').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const current = new Subscriber(spec.capacity, done);
  subscribers.add(current);
  let stream: http2.ClientHttp2Stream;
  try {
    stream = sessionFor(spec, index).request(headers);
  } catch (err) {
    current.settle(err instanceof Error ? err.message : 'error', '');
    subscribers.delete(current);
    return;
  }
  current.close = () => stream.close(http2.constants.NGHTTP2_CANCEL);
  const timer = setTimeout(() => {
    current.settle('timeout', '');
    stream.close(http2.constants.NGHTTP2_CANCEL);
  }, spec.headTimeoutMs);
  stream.on('response', (h) => {
    clearTimeout(timer);
    const status = Number(h[':status']) || 0;
    current.parser.startBody(status);
    if (status !== 200) stream.close(http2.constants.NGHTTP2_CANCEL);
  });
  stream.on('data', (chunk: Buffer) => {
    readAt = clockMs();
    try {
      current.parser.push(chunk);
    } catch (err) {
      current.settle('parse-error', String(err));
      stream.close(http2.constants.NGHTTP2_CANCEL);
    }
  });
  stream.on('error', (err: NodeJS.ErrnoException) => current.settle(err.code ?? 'error', ''));
  stream.on('close', () => {
    clearTimeout(timer);
    closed(current);
  });
}

function connectAll(spec: ConnectSpec): Promise<ConnectResult> {
  return new Promise((resolve) => {
    const t0 = clockMs();
    const outcomes: Record<string, number> = {};
    let started = 0;
    let finished = 0;
    let inFlight = 0;
    let ok = 0;
    let sample: string | null = null;
    let resolved = false;
    const finish = (): void => {
      if (resolved) return;
      resolved = true;
      clearTimeout(overall);
      resolve({ ok, failed: spec.count - ok, outcomes, durationMs: clockMs() - t0, sample });
    };
    const overall = setTimeout(finish, spec.totalTimeoutMs);
    const launch = (): void => {
      while (!resolved && inFlight < spec.concurrency && started < spec.count) {
        const index = started;
        started += 1;
        inFlight += 1;
        openOne(spec, index, (outcome, raw) => {
          inFlight -= 1;
          finished += 1;
          outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
          if (outcome === '200') ok += 1;
          else if (sample === null && raw !== '') sample = raw;
          if (finished >= spec.count) finish();
          else launch();
        });
      }
    };
    if (spec.count <= 0) finish();
    else launch();
  });
}

function progress(): Progress {
  return {
    received: totals.received,
    lastRecvAt: totals.lastRecvAt,
    open: openStreams,
    heartbeats: totals.heartbeats,
    dropped: totals.dropped,
  };
}

function report(expected: number): WorkerReport {
  let missing = 0;
  let withMissing = 0;
  let count = 0;
  for (const sub of subscribers) {
    if (!sub.open) continue;
    count += 1;
    let gotInRange = 0;
    const limit = Math.min(expected, sub.seen.length);
    for (let i = 0; i < limit; i++) gotInRange += sub.seen[i] ?? 0;
    const m = expected - gotInRange;
    if (m > 0) {
      missing += m;
      withMissing += 1;
    }
  }
  const cpu = process.cpuUsage();
  return {
    ...progress(),
    duplicates: totals.duplicates,
    unexpected: totals.unexpected,
    foreign: totals.foreign,
    outOfOrder: totals.outOfOrder,
    missing,
    subscribersWithMissing: withMissing,
    subscribers: count,
    early: totals.early,
    minLatencyMs: totals.minLatencyMs,
    histograms: histograms.map((h) => h.toSparse()),
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
  };
}

let lastSent = '';
const ticker = setInterval(() => {
  const p = progress();
  const key = `${p.received}/${p.open}/${p.heartbeats}/${p.dropped}`;
  if (key !== lastSent) {
    lastSent = key;
    send({ type: 'progress', progress: p });
  }
}, 50);

process.on('message', (raw: unknown) => {
  if (!isParentMessage(raw)) return;
  if (raw.type === 'connect') {
    void connectAll(raw.spec).then((result) => {
      send({ type: 'progress', progress: progress() });
      send({ type: 'connected', seq: raw.seq, result });
    });
  } else if (raw.type === 'report') {
    send({ type: 'report', seq: raw.seq, report: report(raw.expected) });
  } else {
    closing = true;
    for (const sub of subscribers) sub.close();
    for (const session of sessions.values()) session.destroy();
    send({ type: 'closed', seq: raw.seq });
  }
});

process.on('disconnect', () => {
  clearInterval(ticker);
  closing = true;
  for (const sub of subscribers) sub.close();
  for (const session of sessions.values()) session.destroy();
  process.exit(0);
});

send({ type: 'ready' });
