/**
 * Minimal keep-alive HTTP/1.1 client on one raw socket, one request at a time. It is far cheaper
 * per request than node:http's client, so the load generator does not become the bottleneck of
 * the insert and publish figures. `secure`: over TLS (a Broker with TLS_CERT; the bench's own
 * self-signed certificate is not verified).
 */
import net from 'node:net';
import tls from 'node:tls';

export interface HttpResponse {
  status: number;
  body: string;
}

interface Pending {
  resolve: (r: HttpResponse) => void;
  reject: (e: Error) => void;
}

const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*(\d+)/i;
const CHUNKED = /\r\ntransfer-encoding:[ \t]*chunked/i;
const CONN_CLOSE = /\r\nconnection:[ \t]*close/i;

export class RawHttpConnection {
  private socket: net.Socket | null = null;
  private connecting: Promise<net.Socket> | null = null;
  private buf: Buffer | null = null;
  private pending: Pending | null = null;
  private closeAfter = false;

  constructor(
    readonly host: string,
    readonly port: number,
    readonly timeoutMs = 30_000,
    readonly secure = false,
  ) {}

  /** Connects now (otherwise the first request connects). */
  async open(): Promise<void> {
    await this.ensureSocket();
  }

  private ensureSocket(): Promise<net.Socket> {
    if (this.socket !== null && !this.socket.destroyed) return Promise.resolve(this.socket);
    if (this.connecting !== null) return this.connecting;
    this.connecting = new Promise<net.Socket>((resolve, reject) => {
      const s = this.secure
        ? tls.connect({ host: this.host, port: this.port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] })
        : net.connect({ host: this.host, port: this.port });
      s.setNoDelay(true);
      s.setTimeout(this.timeoutMs);
      const onError = (err: Error): void => {
        this.connecting = null;
        reject(err);
      };
      s.once('error', onError);
      s.once(this.secure ? 'secureConnect' : 'connect', () => {
        s.off('error', onError);
        this.connecting = null;
        this.socket = s;
        this.buf = null;
        s.on('data', (chunk: Buffer) => this.onData(chunk));
        s.on('timeout', () => this.fail(new Error(`no response within ${this.timeoutMs} ms`)));
        s.on('error', (err) => this.fail(err));
        s.on('close', () => this.fail(new Error('connection closed')));
        resolve(s);
      });
    });
    return this.connecting;
  }

  private fail(err: Error): void {
    const p = this.pending;
    this.pending = null;
    this.socket?.destroy();
    this.socket = null;
    this.buf = null;
    if (p !== null) p.reject(err);
  }

  /** Sends one request; `headers` are extra header lines, each ending in CRLF. */
  async request(method: string, path: string, body: string | null = null, headers = ''): Promise<HttpResponse> {
    if (this.pending !== null) throw new Error('RawHttpConnection: one request at a time');
    const socket = await this.ensureSocket();
    const bodyPart = body === null ? '' : body;
    const head =
      `${method} ${path} HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\n` +
      (body === null ? '' : `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(bodyPart)}\r\n`) +
      `${headers}\r\n`;
    return new Promise<HttpResponse>((resolve, reject) => {
      this.pending = { resolve, reject };
      socket.write(head + bodyPart);
    });
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf === null ? chunk : Buffer.concat([this.buf, chunk]);
    const buf = this.buf;
    const headEnd = buf.indexOf('\r\n\r\n');
    if (headEnd < 0) return;
    const head = buf.toString('latin1', 0, headEnd);
    const status = Number.parseInt(head.slice(9, 12), 10) || 0;
    const bodyStart = headEnd + 4;
    let body: string;
    let used: number;
    const cl = CONTENT_LENGTH.exec(head);
    if (cl?.[1] !== undefined) {
      used = bodyStart + Number(cl[1]);
      if (buf.length < used) return;
      body = buf.toString('utf8', bodyStart, used);
    } else if (CHUNKED.test(head)) {
      const parts: Buffer[] = [];
      let pos = bodyStart;
      for (;;) {
        const lineEnd = buf.indexOf('\r\n', pos);
        if (lineEnd < 0) return;
        const size = Number.parseInt(buf.toString('latin1', pos, lineEnd), 16);
        if (Number.isNaN(size)) {
          this.fail(new Error('bad chunked encoding'));
          return;
        }
        if (size === 0) {
          const end = buf.indexOf('\r\n\r\n', lineEnd);
          if (end < 0 && buf.length < lineEnd + 4) return;
          used = end < 0 ? lineEnd + 4 : end + 4;
          break;
        }
        if (buf.length < lineEnd + 2 + size + 2) return;
        parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
        pos = lineEnd + 2 + size + 2;
      }
      body = Buffer.concat(parts).toString('utf8');
    } else {
      used = bodyStart;
      body = '';
    }
    this.closeAfter = CONN_CLOSE.test(head);
    this.buf = used < buf.length ? buf.subarray(used) : null;
    const p = this.pending;
    this.pending = null;
    if (this.closeAfter) {
      this.socket?.removeAllListeners('close');
      this.socket?.destroy();
      this.socket = null;
      this.buf = null;
    }
    if (p !== null) p.resolve({ status, body });
  }

  close(): void {
    const s = this.socket;
    this.socket = null;
    if (s !== null) {
      s.removeAllListeners('close');
      s.destroy();
    }
    this.fail(new Error('connection closed by the client'));
  }
}

/** One request on a fresh connection, closed afterwards. */
export async function httpOnce(
  host: string,
  port: number,
  method: string,
  path: string,
  body: string | null = null,
  headers = '',
  timeoutMs = 10_000,
  secure = false,
): Promise<HttpResponse> {
  const c = new RawHttpConnection(host, port, timeoutMs, secure);
  try {
    return await c.request(method, path, body, headers);
  } finally {
    c.close();
  }
}
