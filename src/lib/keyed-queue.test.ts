import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyedQueue } from './keyed-queue.js';

test('tasks of one key run one after the other, whatever the outcome; other keys run alongside; no entry is left', async () => {
  const q = new KeyedQueue();
  const log: string[] = [];
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const a1 = q.run('a', async () => {
    log.push('a1 start');
    await gate;
    log.push('a1 end');
    throw new Error('a1 failed');
  });
  const a2 = q.run('a', async () => {
    log.push('a2');
    return 2;
  });
  const b = q.run('b', async () => {
    log.push('b');
    return 'b';
  });
  assert.equal(await b, 'b');
  assert.deepEqual(log, ['a1 start', 'b'], 'a2 waits for a1; b does not');
  release();
  await assert.rejects(a1, /a1 failed/);
  assert.equal(await a2, 2);
  assert.deepEqual(log, ['a1 start', 'b', 'a1 end', 'a2']);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(q.size, 0);
});
