import { DataMoveError } from '../store/data-move-error.js';

export interface Line {
  /** 1-based. */
  readonly number: number;
  readonly text: string;
}

/**
 * The lines of a byte stream, in batches (one per chunk read, so that a million lines do not
 * cost a million awaits), each decoded as strict UTF-8. Memory stays bounded by the chunk size
 * and `maxLineBytes`: a longer line is refused rather than buffered. Line ends are LF (a CR
 * before it is dropped); a last line without one counts too. Reading pauses while the caller
 * works on a batch, which is the backpressure on the source.
 */
export async function* readLines(source: AsyncIterable<Buffer | string>, maxLineBytes: number): AsyncGenerator<Line[]> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let number = 0;
  let partial: Buffer[] = [];
  let partialBytes = 0;
  const decode = (bytes: Buffer): Line => {
    number += 1;
    const end = bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.length - 1 : bytes.length;
    try {
      return { number, text: decoder.decode(bytes.subarray(0, end)) };
    } catch {
      throw DataMoveError.atLine(number, 'is not valid UTF-8');
    }
  };
  const tooLong = (): DataMoveError =>
    DataMoveError.atLine(number + 1, `is longer than ${maxLineBytes} bytes (the longest line an import reads)`);
  for await (const piece of source) {
    const chunk = typeof piece === 'string' ? Buffer.from(piece, 'utf8') : piece;
    const lines: Line[] = [];
    let start = 0;
    for (let lf = chunk.indexOf(0x0a, start); lf !== -1; lf = chunk.indexOf(0x0a, start)) {
      const head = chunk.subarray(start, lf);
      if (partialBytes + head.length > maxLineBytes) throw tooLong();
      lines.push(decode(partialBytes === 0 ? head : Buffer.concat([...partial, head])));
      partial = [];
      partialBytes = 0;
      start = lf + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      partialBytes += rest.length;
      if (partialBytes > maxLineBytes) throw tooLong();
      // A copy: the stream may reuse its buffer, and a slice would pin the whole chunk.
      partial.push(Buffer.from(rest));
    }
    if (lines.length > 0) yield lines;
  }
  if (partialBytes > 0) yield [decode(Buffer.concat(partial))];
}
