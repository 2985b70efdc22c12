import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import type { AppendOutcome, IdempotencyKey, NewEvent, Store } from '../store.js';

/** Batches and idempotency keys. Runs inside storeContract's suite (clock at 0 unless moved). */
export function appendContract(store: () => Store, tick: () => number, setNow: (t: number) => void): void {
  const ev = (event: string, timestamp: number, data: unknown): NewEvent => ({
    id: randomUUID(),
    userId: 'b',
    event,
    timestamp,
    data: JSON.stringify(data),
  });
  const name = (label: string): string => `${label}-${randomUUID().slice(0, 8)}`;
  const key = (k: string, hash = 'h1', expiresAt = 1e12): IdempotencyKey => ({ userId: 'b', key: k, hash, response: `{"r":"${hash}"}`, expiresAt });
  const history = async (n: string) => ((await store().events.history(n, { limit: 1000 })) ?? []).map((e) => JSON.parse(e.data) as unknown);
  const stored = (o: AppendOutcome) => (o.kind === 'stored' ? o.events : assert.fail(`expected stored, got ${o.kind}`));

  test('appendBatch: every event of a batch in one commit, in order; due ones released in timestamp order', async () => {
    const n = name('batch');
    const at = tick();
    setNow(at);
    try {
      const events = [ev(n, at - 1, 'a'), ev(n, at + 1e6, 'future'), ev(n, at - 3, 'b'), ev(n, at - 2, 'c')];
      const result = stored(await store().events.appendBatch({ events }));
      assert.deepEqual(result.map((e) => e.id), events.map((e) => e.id));
      assert.deepEqual(result.map((e) => e.published), [true, false, true, true]);
      const seqs = result.map((e) => e.seq);
      // Released by timestamp: b (at−3), c (at−2), a (at−1).
      assert.ok((seqs[2] as number) < (seqs[3] as number) && (seqs[3] as number) < (seqs[0] as number), JSON.stringify(seqs));
      assert.deepEqual(await history(n), ['b', 'c', 'a', 'future']);
      await store().events.cancel(events[1]?.id as string, 'b');
    } finally {
      setNow(0);
    }
  });

  test('appendBatch is all or nothing: a failing event in the middle stores none of the batch', async () => {
    const n = name('atomic');
    const dup = ev(n, 5, 'exists');
    await store().events.append(dup);
    const batch = [ev(n, 5, 'one'), { ...ev(n, 5, 'clash'), id: dup.id }, ev(n, 5, 'three')];
    await assert.rejects(store().events.appendBatch({ events: batch }));
    assert.deepEqual(await history(n), ['exists']);
    await store().events.releaseDue(tick(), 1000);
  });

  test('an idempotency key stores once: a retry gets the first answer and stores nothing, also concurrently', async () => {
    const n = name('idem');
    const k = name('key');
    const first = await store().events.appendBatch({ events: [ev(n, 5, 1)], key: key(k, 'h1') });
    assert.equal(first.kind, 'stored');
    const retry = await store().events.appendBatch({ events: [ev(n, 5, 2)], key: key(k, 'h2') });
    assert.deepEqual(retry, { kind: 'duplicate', hash: 'h1', response: '{"r":"h1"}' });
    assert.deepEqual(await history(n), [1]);
    // The same new key from many concurrent requests: exactly one is stored.
    const k2 = name('key');
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => store().events.appendBatch({ events: [ev(n, 6, `c${i}`)], key: key(k2) })));
    assert.equal(results.filter((r) => r.kind === 'stored').length, 1);
    assert.equal((await history(n)).length, 2);
    // Another user's same key is another key.
    const other = await store().events.appendBatch({ events: [ev(n, 7, 'other')], key: { ...key(k), userId: 'someone-else' } });
    assert.equal(other.kind, 'stored');
    await store().events.releaseDue(tick(), 1000);
  });

  test('an expired key is as good as absent, and pruning removes it', async () => {
    const n = name('expired');
    const k = name('key');
    setNow(100);
    try {
      assert.equal((await store().events.appendBatch({ events: [ev(n, 5, 1)], key: key(k, 'h1', 100) })).kind, 'stored');
      const again = await store().events.appendBatch({ events: [ev(n, 5, 2)], key: key(k, 'h2', 200) });
      assert.equal(again.kind, 'stored', 'expired at 100: a new request');
      assert.equal((await store().events.appendBatch({ events: [ev(n, 5, 3)], key: key(k, 'h3', 300) })).kind, 'duplicate');
      await store().events.pruneIdempotencyKeys(250);
      assert.equal((await store().events.appendBatch({ events: [ev(n, 5, 4)], key: key(k, 'h4', 400) })).kind, 'stored', 'pruned');
      assert.deepEqual(await history(n), [1, 2, 4]);
    } finally {
      setNow(0);
    }
    await store().events.releaseDue(tick(), 1000);
  });
}
