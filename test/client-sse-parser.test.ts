import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { reconnectDelay } from '../src/client/backoff.js';
import { type SseMessage, SseParser } from '../src/client/sse-parser.js';

interface Parsed {
  readonly messages: SseMessage[];
  readonly retries: number[];
  readonly comments: string[];
}

function parse(chunks: readonly string[]): Parsed {
  const out: Parsed = { messages: [], retries: [], comments: [] };
  const parser = new SseParser({
    onMessage: (m) => out.messages.push(m),
    onRetry: (ms) => out.retries.push(ms),
    onComment: (c) => out.comments.push(c),
  });
  for (const chunk of chunks) parser.push(chunk);
  return out;
}

const STREAM =
  '\uFEFFretry:3000\n\n' +
  ':hb\n\n' +
  'id:41\nevent:user\ndata:{"name":"Rusty"}\n\n' +
  'id: 42\r\nevent: cart\r\ndata: {"items":\r\ndata: [1,2]}\r\n\r\n' +
  ':hb\r\r' +
  'id:43\revent:user\rdata:{"name":"Ada"}\r\r' +
  'data\n\n' +
  'event:ignored-without-data\nid:44\n\n' +
  'unknown:field\ndata:x\n\n' +
  'id:45\nevent:user\ndata:{"cut":"at the end"}';

const EXPECTED: SseMessage[] = [
  { lastEventId: '41', event: 'user', data: '{"name":"Rusty"}' },
  { lastEventId: '42', event: 'cart', data: '{"items":\n[1,2]}' },
  { lastEventId: '43', event: 'user', data: '{"name":"Ada"}' },
  { lastEventId: '43', event: 'message', data: '' },
  { lastEventId: '44', event: 'message', data: 'x' },
];

describe('SseParser', () => {
  test('parses LF, CRLF and CR line ends, comments, retry, multi-line data, and drops an unfinished event', () => {
    const out = parse([STREAM]);
    assert.deepEqual(out.messages, EXPECTED);
    assert.deepEqual(out.retries, [3000]);
    assert.deepEqual(out.comments, ['hb', 'hb']);
  });

  test('gives the same result however the text is split into chunks (every split point, and one character at a time)', () => {
    for (let cut = 0; cut <= STREAM.length; cut++) {
      const out = parse([STREAM.slice(0, cut), STREAM.slice(cut)]);
      assert.deepEqual(out.messages, EXPECTED, `split at ${cut}`);
      assert.deepEqual(out.retries, [3000], `split at ${cut}`);
    }
    for (let a = 0; a < STREAM.length; a += 7) {
      for (let b = a; b < Math.min(STREAM.length, a + 12); b++) {
        const out = parse([STREAM.slice(0, a), STREAM.slice(a, b), STREAM.slice(b)]);
        assert.deepEqual(out.messages, EXPECTED, `split at ${a} and ${b}`);
      }
    }
    assert.deepEqual(parse([...STREAM]).messages, EXPECTED);
  });

  test('a CR at the end of a chunk and an LF at the start of the next make one line end, not two', () => {
    const out = parse(['id:1\r', '\ndata:a\r', '\n\r', '\nid:2\ndata:b\n\n']);
    assert.deepEqual(out.messages, [
      { lastEventId: '1', event: 'message', data: 'a' },
      { lastEventId: '2', event: 'message', data: 'b' },
    ]);
  });

  test('ignores an invalid retry and an id containing NUL; keeps the last id across events', () => {
    const out = parse(['retry:soon\nretry:12a\nid:7\ndata:a\n\nid:8\0\ndata:b\n\nretry:250\n\n']);
    assert.deepEqual(out.retries, [250]);
    assert.deepEqual(
      out.messages.map((m) => m.lastEventId),
      ['7', '7'],
    );
  });

  test('starts from a given last id (a resumed connection)', () => {
    const messages: SseMessage[] = [];
    const parser = new SseParser({ onMessage: (m) => messages.push(m) }, '99');
    parser.push('data:no id here\n\n');
    assert.deepEqual(messages, [{ lastEventId: '99', event: 'message', data: 'no id here' }]);
  });
});

describe('reconnectDelay', () => {
  test('doubles from the base up to the cap, with equal jitter (between half and all of it)', () => {
    const opts = { baseMs: 100, maxMs: 1000 };
    const expectedCaps = [100, 200, 400, 800, 1000, 1000];
    expectedCaps.forEach((cap, i) => {
      assert.equal(reconnectDelay(i + 1, opts, () => 0), cap / 2, `attempt ${i + 1}, lowest`);
      assert.equal(reconnectDelay(i + 1, opts, () => 0.999999), cap, `attempt ${i + 1}, highest`);
    });
    const spread = new Set(Array.from({ length: 50 }, () => reconnectDelay(3, opts)));
    assert.ok(spread.size > 10, 'random jitter spreads the delays');
    assert.equal(reconnectDelay(1000, opts, () => 0.5), 750, 'huge attempt numbers stay capped');
  });
});
