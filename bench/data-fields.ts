/**
 * Reads the number that follows `"<key>":` inside a compact JSON object held in
 * buf[start, end) without decoding the bytes to a string. `key` is the char code of a
 * one-letter key: the suite's own payloads are `{"n":<counter>,"t":<ms>,"p":<phase>}`.
 * Returns NaN when the key is absent.
 */
export function readNumberField(buf: Buffer, start: number, end: number, key: number): number {
  for (let i = start; i + 3 < end; i++) {
    if (buf[i] === 34 && buf[i + 1] === key && buf[i + 2] === 34 && buf[i + 3] === 58) {
      return parseNumberAt(buf, i + 4, end);
    }
  }
  return Number.NaN;
}

function parseNumberAt(buf: Buffer, from: number, end: number): number {
  let i = from;
  while (i < end && buf[i] === 32) i++;
  let negative = false;
  if (buf[i] === 45) {
    negative = true;
    i++;
  }
  const digitsStart = i;
  let value = 0;
  let c = buf[i] ?? 0;
  while (i < end && c >= 48 && c <= 57) {
    value = value * 10 + (c - 48);
    i++;
    c = buf[i] ?? 0;
  }
  if (i === digitsStart) return Number.NaN;
  if (i < end && c === 46) {
    let scale = 0.1;
    i++;
    c = buf[i] ?? 0;
    while (i < end && c >= 48 && c <= 57) {
      value += (c - 48) * scale;
      scale /= 10;
      i++;
      c = buf[i] ?? 0;
    }
  }
  if (i < end && (c === 101 || c === 69)) {
    let j = i + 1;
    while (j < end && buf[j] !== 44 && buf[j] !== 125) j++;
    return Number(buf.toString('latin1', from, j));
  }
  return negative ? -value : value;
}
