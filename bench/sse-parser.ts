/**
 * Lean byte-level parser for one SSE response over a raw socket: HTTP head, chunked transfer
 * decoding (Node answers HTTP/1.1 streams chunked), then frames split on blank lines. It never
 * decodes frame bytes to strings; it hands the sink the buffer and the offsets of `data:`.
 */
export interface SseSink {
  /** Called once with the status; `raw` holds the start of the response when it is not 200. */
  onHead(status: number, raw: string): void;
  /** A frame with a data line; `id` is -1 when the frame had no `id:` line. */
  onFrame(buf: Buffer, id: number, dataStart: number, dataEnd: number): void;
  /** A frame made only of comment lines (the `:hb` heartbeat). */
  onComment(): void;
}

const LF = 10;
const CR = 13;
const COLON = 58;
const MAX_PENDING = 1 << 20;

const SIZE_LINE = 0;
const CHUNK_DATA = 1;
const CHUNK_END = 2;
const ENDED = 3;

function parseUint(b: Buffer, from: number, to: number): number {
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = (b[i] ?? 0) - 48;
    if (c < 0 || c > 9) return i === from ? -1 : v;
    v = v * 10 + c;
  }
  return to > from ? v : -1;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

export class SseParser {
  status = 0;
  private head: Buffer | null = null;
  private inBody = false;
  private chunked = false;
  private state = SIZE_LINE;
  private chunkLeft = 0;
  private inExtension = false;
  private carry: Buffer | null = null;

  constructor(private readonly sink: SseSink) {}

  /**
   * For a response whose head came apart from its body (HTTP/2: the headers frame): `push` then
   * takes body bytes only, unframed (HTTP/2 has no chunked encoding).
   */
  startBody(status: number): void {
    this.inBody = true;
    this.status = status;
    this.sink.onHead(status, status === 200 ? '' : `:status ${status}`);
    if (status !== 200) this.state = ENDED;
  }

  push(input: Buffer): void {
    let chunk = input;
    let pos = 0;
    if (!this.inBody) {
      chunk = this.head === null ? input : Buffer.concat([this.head, input]);
      const idx = chunk.indexOf('\r\n\r\n');
      if (idx < 0) {
        if (chunk.length > MAX_PENDING) throw new Error('response head too large');
        this.head = Buffer.from(chunk);
        return;
      }
      this.head = null;
      this.inBody = true;
      const headText = chunk.toString('latin1', 0, idx);
      this.status = Number.parseInt(headText.slice(9, 12), 10) || 0;
      this.chunked = /\r\ntransfer-encoding:[ \t]*chunked/i.test(headText);
      const raw = this.status === 200 ? '' : chunk.toString('utf8', 0, Math.min(chunk.length, 600));
      this.sink.onHead(this.status, raw);
      if (this.status !== 200) {
        this.state = ENDED;
        return;
      }
      pos = idx + 4;
    }
    if (this.state === ENDED) return;
    if (!this.chunked) {
      this.body(chunk, pos, chunk.length);
      return;
    }
    const end = chunk.length;
    while (pos < end) {
      if (this.state === CHUNK_DATA) {
        const n = Math.min(this.chunkLeft, end - pos);
        this.body(chunk, pos, pos + n);
        pos += n;
        this.chunkLeft -= n;
        if (this.chunkLeft === 0) this.state = CHUNK_END;
      } else if (this.state === SIZE_LINE) {
        const c = chunk[pos++] ?? 0;
        if (c === LF) {
          this.inExtension = false;
          if (this.chunkLeft === 0) {
            this.state = ENDED;
            return;
          }
          this.state = CHUNK_DATA;
        } else if (c !== CR && !this.inExtension) {
          const h = hexValue(c);
          if (h < 0) this.inExtension = true;
          else this.chunkLeft = this.chunkLeft * 16 + h;
        }
      } else if (this.state === CHUNK_END) {
        if (chunk[pos++] === LF) this.state = SIZE_LINE;
      } else {
        return;
      }
    }
  }

  private body(buf: Buffer, start: number, end: number): void {
    if (start >= end) return;
    if (this.carry !== null) {
      const merged = Buffer.concat([this.carry, buf.subarray(start, end)]);
      this.carry = null;
      const used = this.frames(merged, 0, merged.length);
      if (used < merged.length) {
        if (merged.length - used > MAX_PENDING) throw new Error('SSE frame too large');
        this.carry = merged.subarray(used);
      }
      return;
    }
    const used = this.frames(buf, start, end);
    // Copy the partial frame: a view would pin the whole socket read buffer.
    if (used < end) this.carry = Buffer.from(buf.subarray(used, end));
  }

  /** Dispatches every complete frame in b[start, end); returns where the unfinished part starts. */
  private frames(b: Buffer, start: number, end: number): number {
    let frameStart = start;
    let pos = start;
    let id = -1;
    let dataStart = -1;
    let dataEnd = -1;
    let comment = false;
    while (pos < end) {
      const nl = b.indexOf(LF, pos);
      if (nl < 0 || nl >= end) break;
      let lineEnd = nl;
      if (lineEnd > pos && b[lineEnd - 1] === CR) lineEnd--;
      if (lineEnd === pos) {
        if (dataStart >= 0) this.sink.onFrame(b, id, dataStart, dataEnd);
        else if (comment) this.sink.onComment();
        id = -1;
        dataStart = -1;
        comment = false;
        frameStart = nl + 1;
      } else {
        const c = b[pos];
        if (c === COLON) {
          comment = true;
        } else if (c === 105 && b[pos + 1] === 100 && b[pos + 2] === COLON) {
          id = parseUint(b, pos + 3, lineEnd);
        } else if (c === 100 && b[pos + 1] === 97 && b[pos + 2] === 116 && b[pos + 3] === 97 && b[pos + 4] === COLON) {
          dataStart = pos + 5;
          dataEnd = lineEnd;
        }
        // `event:`, `retry:` and unknown fields are not needed by the suite.
      }
      pos = nl + 1;
    }
    return frameStart;
  }
}
