import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Semaphore } from './semaphore.js';

test('runs at most `limit` tasks at once, in arrival order, and refuses past the queue bound', async () => {
  const s = new Semaphore(2, 2, () => new Error('full'));
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  const gates: (() => void)[] = [];
  const task = (i: number) => () =>
    new Promise<number>((resolve) => {
      running += 1;
      peak = Math.max(peak, running);
      order.push(i);
      gates.push(() => {
        running -= 1;
        resolve(i);
      });
    });
  const runs = [0, 1, 2, 3].map((i) => s.run(task(i)));
  await assert.rejects(s.run(task(4)), /full/);
  // Finish the oldest running task each turn until every task has started, then the rest.
  for (let turn = 0; order.length < 4 && turn < 10; turn++) {
    gates.shift()?.();
    await new Promise((resolve) => setImmediate(resolve));
  }
  for (const g of gates.splice(0)) g();
  assert.deepEqual(await Promise.all(runs), [0, 1, 2, 3]);
  assert.equal(peak, 2);
  assert.deepEqual(order, [0, 1, 2, 3]);
});
