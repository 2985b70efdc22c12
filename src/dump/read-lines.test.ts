import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DataMoveError } from '../store/data-move-error.js';
import { readLines } from './read-lines.js';

async function* stream(chunks: readonly (string | Buffer)[]): AsyncGenerator<string | Buffer> {
  yield* chunks;
}

async function lines(chunks: (string | Buffer)[], max = 100): Promise<[number, string][]> {
  const out: [number, string][] = [];
  for await (const batch of readLines(stream(chunks), max)) for (const l of batch) out.push([l.number, l.text]);
  return out;
}

test('lines split across chunks, CRLF and a last line without a line feed; multi-byte characters across a chunk boundary', async () => {
  const euro = Buffer.from('€', 'utf8');
  assert.deepEqual(await lines(['ab', 'c\nd\r\n', '\ne', Buffer.concat([Buffer.from('\nx'), euro.subarray(0, 1)]), euro.subarray(1)]), [
    [1, 'abc'],
    [2, 'd'],
    [3, ''],
    [4, 'e'],
    [5, 'x€'],
  ]);
  assert.deepEqual(await lines(['one\n']), [[1, 'one']]);
  assert.deepEqual(await lines([]), []);
});

test('a line longer than the limit and invalid UTF-8 are refused with their line number', async () => {
  await assert.rejects(lines(['short\n', 'x'.repeat(60), 'y'.repeat(60), '\n'], 100), (e: unknown) => e instanceof DataMoveError && /^line 2: is longer than 100 bytes/.test(e.message));
  await assert.rejects(lines([`${'z'.repeat(150)}\n`], 100), (e: unknown) => e instanceof DataMoveError && /^line 1: is longer/.test(e.message));
  await assert.rejects(lines(['ok\n', Buffer.from([0x61, 0xff, 0x0a])]), (e: unknown) => e instanceof DataMoveError && /^line 2: is not valid UTF-8/.test(e.message));
});
