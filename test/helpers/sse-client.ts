import http from 'node:http';
import https from 'node:https';

export interface Frame {
  readonly id?: string;
  readonly event?: string;
  readonly data?: string;
  readonly retry?: string;
  readonly comment?: string;
  readonly receivedAt: number;
}

/**
 * A strict SSE test client over node:http: records every frame (including comments and retry)
 * with its arrival time, and lets a test wait for a condition instead of sleeping.
 */
export class SseClient {
  readonly frames: Frame[] = [];
  status = 0;
  headers: http.IncomingHttpHeaders = {};
  body = '';
  closed = false;
  private buffer = '';
  private req: http.ClientRequest | undefined;
  private waiters: { check: () => boolean; resolve: () => void }[] = [];

  /** `ca`: the CA to trust for an https:// URL (HTTP/1.1 over TLS). */
  static async connect(url: string, headers: Record<string, string> = {}, options: { ca?: Buffer } = {}): Promise<SseClient> {
    const client = new SseClient();
    await client.open(url, headers, options.ca);
    return client;
  }

  /** Event frames only (those with data). */
  get events(): Frame[] {
    return this.frames.filter((f) => f.data !== undefined);
  }

  get ids(): number[] {
    return this.events.map((f) => Number(f.id));
  }

  waitFor(check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${JSON.stringify(this.events)}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push({ check, resolve: done });
    });
  }

  waitForEvents(count: number, timeoutMs = 5000): Promise<void> {
    return this.waitFor(() => this.events.length >= count, timeoutMs, `${count} events`);
  }

  waitForClose(timeoutMs = 5000): Promise<void> {
    return this.waitFor(() => this.closed, timeoutMs, 'the stream to close');
  }

  close(): void {
    this.req?.destroy();
    this.closed = true;
  }

  private open(url: string, headers: Record<string, string>, ca: Buffer | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const get = url.startsWith('https:') ? https.get : http.get;
      const req = get(url, { headers: { accept: 'text/event-stream', ...headers }, ...(ca ? { ca } : {}) }, (res) => {
        this.status = res.statusCode ?? 0;
        this.headers = res.headers;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (this.status !== 200) this.body += chunk;
          else this.parse(chunk);
        });
        const closed = (): void => {
          this.closed = true;
          this.notify();
        };
        res.on('end', closed);
        res.on('close', closed);
        resolve();
      });
      req.on('error', (error) => {
        this.closed = true;
        this.notify();
        reject(error);
      });
      this.req = req;
    });
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
    for (const w of [...this.waiters]) {
      if (w.check()) {
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve();
      }
    }
  }
}
