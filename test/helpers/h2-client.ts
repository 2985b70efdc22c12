/**
 * HTTP/2 test clients over node:http2: a session trusting the test CA, JSON requests on it, and
 * an SSE stream reader that records every frame (comments and retry included) with its arrival
 * time and how the stream finished (a clean end or a reset, with its code).
 */
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { Frame } from './sse-client.js';

/**
 * The connection flow-control window a client session advertises, in bytes: a browser's size
 * (Chrome: 15 MiB), not Node's default 64 KiB, which a single unread stream would exhaust for
 * every stream of the session.
 */
const SESSION_WINDOW = 15 * 1024 * 1024;

/** Resolves once connected (TLS handshake and SETTINGS done), with ALPN h2. */
export async function connectH2(url: string, ca: Buffer): Promise<ClientHttp2Session> {
  const session = http2.connect(url, { ca });
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  session.on('error', () => {});
  session.setLocalWindowSize(SESSION_WINDOW);
  return session;
}

export interface H2Response {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: unknown;
}

/** One request on the session; the body is sent as JSON, the answer parsed as JSON when it is. */
export function h2Request(
  session: ClientHttp2Session,
  method: string,
  path: string,
  options: { body?: unknown; token?: string; headers?: Record<string, string> } = {},
): Promise<H2Response> {
  const headers: Record<string, string> = { ':method': method, ':path': path, ...options.headers };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const req = session.request(headers, { endStream: options.body === undefined });
  if (options.body !== undefined) req.end(JSON.stringify(options.body));
  return new Promise((resolve, reject) => {
    let responseHeaders: IncomingHttpHeaders = {};
    let text = '';
    req.setEncoding('utf8');
    req.on('response', (h) => {
      responseHeaders = h;
    });
    req.on('data', (chunk: string) => {
      text += chunk;
    });
    req.on('end', () => {
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
      resolve({ status: Number(responseHeaders[':status']), headers: responseHeaders, body });
    });
    req.on('error', reject);
  });
}

/** A user and its token, made over the session. */
export async function h2SignUp(session: ClientHttp2Session, username: string): Promise<string> {
  const password = 'correct horse battery';
  const created = await h2Request(session, 'POST', '/users', { body: { username, password } });
  if (created.status !== 200) throw new Error(`sign-up failed: ${created.status} ${JSON.stringify(created.body)}`);
  const login = await h2Request(session, 'POST', '/login', { body: { username, password } });
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${JSON.stringify(login.body)}`);
  return (login.body as { jwt: string }).jwt;
}

export async function h2Insert(session: ClientHttp2Session, token: string, event: string, data: unknown): Promise<void> {
  const res = await h2Request(session, 'POST', '/insert', { token, body: { event, data } });
  if (res.status !== 200) throw new Error(`insert failed: ${res.status} ${JSON.stringify(res.body)}`);
}

/** An SSE stream on an HTTP/2 session. */
export class H2SseStream {
  readonly frames: Frame[] = [];
  status = 0;
  headers: IncomingHttpHeaders = {};
  body = '';
  /** How the stream finished: undefined while open; 'ended' = END_STREAM, 'reset' = RST_STREAM. */
  outcome: 'ended' | 'reset' | undefined;
  /** The RST_STREAM code of a reset stream. */
  rstCode: number | undefined;
  readonly req: ClientHttp2Stream;
  private buffer = '';
  private readonly changed = new Set<() => void>();

  constructor(session: ClientHttp2Session, path: string, headers: Record<string, string> = {}) {
    this.req = session.request({ ':path': path, accept: 'text/event-stream', ...headers });
    this.req.setEncoding('utf8');
    this.req.on('response', (h) => {
      this.headers = h;
      this.status = Number(h[':status']);
      this.notify();
    });
    this.req.on('data', (chunk: string) => {
      if (this.status !== 200) this.body += chunk;
      else this.parse(chunk);
    });
    this.req.on('end', () => this.finish('ended'));
    this.req.on('error', () => {});
    this.req.on('close', () => {
      this.rstCode = this.req.rstCode;
      // Node reports NGHTTP2_NO_ERROR as the code of a stream that ended normally too.
      this.finish(this.req.rstCode === http2.constants.NGHTTP2_NO_ERROR && this.outcome === undefined ? 'ended' : 'reset');
    });
  }

  get events(): Frame[] {
    return this.frames.filter((f) => f.data !== undefined);
  }

  get ids(): number[] {
    return this.events.map((f) => Number(f.id));
  }

  waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const listener = (): void => {
        if (!check()) return;
        clearTimeout(timer);
        this.changed.delete(listener);
        resolve();
      };
      const timer = setTimeout(() => {
        this.changed.delete(listener);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; status ${this.status}, outcome ${this.outcome}, events ${JSON.stringify(this.ids)}`));
      }, timeoutMs);
      this.changed.add(listener);
    });
  }

  waitForEvents(count: number, timeoutMs = 10_000): Promise<void> {
    return this.waitFor(() => this.events.length >= count, timeoutMs, `${count} events`);
  }

  waitForOutcome(timeoutMs = 10_000): Promise<void> {
    return this.waitFor(() => this.outcome !== undefined, timeoutMs, 'the stream to finish');
  }

  close(): void {
    this.req.close();
  }

  private finish(outcome: 'ended' | 'reset'): void {
    this.outcome ??= outcome;
    this.notify();
  }

  private parse(chunk: string): void {
    this.buffer += chunk;
    for (;;) {
      const end = this.buffer.indexOf('\n\n');
      if (end < 0) break;
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const frame: Record<string, string> = {};
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) frame.comment = line.slice(1);
        else {
          const colon = line.indexOf(':');
          frame[line.slice(0, colon)] = line.slice(colon + 1);
        }
      }
      this.frames.push({ ...frame, receivedAt: Date.now() });
    }
    this.notify();
  }

  private notify(): void {
    for (const listener of [...this.changed]) listener();
  }
}
