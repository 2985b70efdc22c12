import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MicroBatcher } from './micro-batcher.js';

/** One turn of the event loop. */
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A batcher whose flushes end only when the test says so: `started[k]` holds the items of the
 * k-th flush, `finish[k]()` ends it (each item answered with itself), and `finished` lists the
 * items of the flushes ended so far, in the order they ended.
 */
function heldBatcher(maxInFlight: number, overlapAt?: number) {
  const started: number[][] = [];
  const finish: (() => void)[] = [];
  const finished: number[] = [];
  const batcher = new MicroBatcher<number, number>(
    (items) =>
      new Promise<readonly number[]>((resolve) => {
        started.push([...items]);
        finish.push(() => {
          finished.push(...items);
          resolve(items);
        });
      }),
    100,
    maxInFlight,
    () => 1,
    overlapAt,
  );
  return { b: batcher, started, finish, finished };
}

test('items of one tick share a flush; each gets its own result', async () => {
  const batches: number[][] = [];
  const b = new MicroBatcher<number, number>((items) => {
    batches.push([...items]);
    return items.map((i) => i * 10);
  }, 100);
  assert.deepEqual(await Promise.all([1, 2, 3].map((i) => b.submit(i))), [10, 20, 30]);
  assert.deepEqual(batches, [[1, 2, 3]]);
});

test('a flush that throws synchronously rejects its batch, and later batches still flush', async () => {
  let fail = true;
  const b = new MicroBatcher<number, number>((items) => {
    if (fail) throw new Error('disk full');
    return items;
  }, 100);
  await assert.rejects(Promise.all([b.submit(1), b.submit(2)]), /disk full/);
  fail = false;
  assert.equal(await b.submit(3), 3);
  await b.drain();
});

test('batches are capped and never overlap, also with an asynchronous flush', async () => {
  let running = 0;
  const sizes: number[] = [];
  const b = new MicroBatcher<number, number>(async (items) => {
    running += 1;
    assert.equal(running, 1, 'no overlapping flushes');
    sizes.push(items.length);
    await new Promise((resolve) => setImmediate(resolve));
    running -= 1;
    return items;
  }, 4);
  const all = await Promise.all(Array.from({ length: 10 }, (_, i) => b.submit(i)));
  assert.deepEqual(all, Array.from({ length: 10 }, (_, i) => i));
  assert.ok(sizes.every((n) => n <= 4));
  assert.equal(sizes.reduce((a, n) => a + n, 0), 10);
});

test('with two batches in flight, the second starts before the first finishes, and order is kept', async () => {
  const { b, started, finish } = heldBatcher(2);
  const first = b.submit(1);
  while (started.length < 1) await tick();
  const second = b.submit(2);
  while (started.length < 2) await tick();
  const third = b.submit(3);
  await tick();
  assert.equal(started.length, 2, 'a third batch waits for a slot');
  for (const f of finish.splice(0)) f();
  assert.deepEqual(await Promise.all([first, second]), [1, 2]);
  while (finish.length < 1) await tick();
  finish[0]?.();
  assert.equal(await third, 3);
  assert.deepEqual(started, [[1], [2], [3]]);
});

test('weighed items: a batch holds what fits in maxBatch, and a heavy item goes alone', async () => {
  const batches: number[][] = [];
  const b = new MicroBatcher<number, number>(
    (items) => {
      batches.push([...items]);
      return items;
    },
    10,
    1,
    (item) => item,
  );
  await Promise.all([3, 4, 2, 5, 20, 1].map((i) => b.submit(i)));
  assert.deepEqual(batches, [[3, 4, 2], [5], [20], [1]]);
});

test('with an overlap threshold, another batch starts while one is in flight only once that much weight waits', async () => {
  const { b, started, finish } = heldBatcher(2, 3);
  const results = [b.submit(1)];
  while (started.length < 1) await tick();
  results.push(b.submit(2), b.submit(3));
  for (let i = 0; i < 5; i++) await tick();
  assert.equal(started.length, 1, 'two waiting, below the threshold of three: no second batch yet');
  results.push(b.submit(4));
  while (started.length < 2) await tick();
  assert.deepEqual(started[1], [2, 3, 4]);
  results.push(b.submit(5));
  for (let i = 0; i < 5; i++) await tick();
  assert.equal(started.length, 2, 'at most two in flight');
  finish[0]?.();
  for (let i = 0; i < 5; i++) await tick();
  assert.equal(started.length, 2, 'one still in flight: one waiting is below the threshold');
  finish[1]?.();
  while (started.length < 3) await tick();
  assert.deepEqual(started[2], [5], 'none in flight: the one waiting goes');
  finish[2]?.();
  assert.deepEqual(await Promise.all(results), [1, 2, 3, 4, 5]);
  await b.drain();
});

test('settled waits for the batches in flight, after their flush reported, and not for later ones', async () => {
  const { b, finish, finished } = heldBatcher(2);
  assert.equal(b.settled(), undefined, 'nothing in flight');
  const first = b.submit(1);
  while (finish.length < 1) await tick();
  let done = false;
  const settled = b.settled()?.then(() => {
    done = true;
  });
  assert.ok(settled, 'one batch in flight');
  const second = b.submit(2);
  while (finish.length < 2) await tick();
  finish[0]?.();
  await settled;
  assert.equal(done, true);
  assert.deepEqual(finished, [1], 'settled as the first flush reported; the later batch not waited for');
  finish[1]?.();
  assert.deepEqual(await Promise.all([first, second]), [1, 2]);
  assert.equal(b.settled(), undefined);
});
