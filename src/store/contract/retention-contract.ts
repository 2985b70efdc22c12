import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import type { NewEvent, Store } from '../store.js';

/**
 * Retention: what pruning may and may never remove. Runs inside storeContract's suite, on its
 * store, whose clock stays at 0 (appends release nothing; releases are explicit at `at`).
 */
export function retentionContract(store: () => Store, tick: () => number): void {
  const ev = (event: string, timestamp: number, data: unknown, userId = 'r'): NewEvent => ({
    id: randomUUID(),
    userId,
    event,
    timestamp,
    data: JSON.stringify(data),
  });
  const name = (label: string): string => `${label}-${randomUUID().slice(0, 8)}`;
  const history = async (n: string) => ((await store().events.history(n, { limit: 1000 })) ?? []).map((e) => JSON.parse(e.data) as unknown);

  /** Releases `count` versions of `n` one by one (each its own release time), data 0…count−1. */
  const releaseVersions = async (n: string, count: number): Promise<number[]> => {
    const times: number[] = [];
    for (let i = 0; i < count; i++) {
      const at = tick();
      await store().events.append(ev(n, at - 1, i));
      await store().events.releaseDue(at, 1000);
      times.push(at);
    }
    return times;
  };

  test('retention: keeps the newest N released versions, never a pending one; the snapshot still has the latest', async () => {
    const n = name('keep');
    await releaseVersions(n, 10);
    const pending = ev(n, tick() + 1e6, 'future');
    await store().events.append(pending);
    const result = await store().retention.pruneName(n, { versions: 3 }, 100);
    assert.equal(result.deleted, 7);
    assert.deepEqual(await history(n), [7, 8, 9, 'future']);
    const snapshot = await store().events.readLatest({ after: 0, upTo: await store().events.lastSeq(), names: [n], limit: 10 });
    assert.deepEqual(snapshot.map((e) => JSON.parse(e.data) as unknown), [9]);
    assert.deepEqual(await store().retention.pruneName(n, { versions: 3 }, 100), { deleted: 0, more: false }, 'nothing more');
    await store().events.cancel(pending.id, 'r');
  });

  test('retention: a bounded batch says there may be more, and the next one goes on', async () => {
    const n = name('batch');
    await releaseVersions(n, 8);
    assert.deepEqual(await store().retention.pruneName(n, { versions: 1 }, 3), { deleted: 3, more: true });
    assert.deepEqual(await store().retention.pruneName(n, { versions: 1 }, 3), { deleted: 3, more: true });
    const last = await store().retention.pruneName(n, { versions: 1 }, 3);
    assert.equal(last.deleted, 1);
    assert.deepEqual(await history(n), [7]);
  });

  test('retention: by age (release time); the latest stays even when it is old, and so does the highest seq', async () => {
    const n = name('age');
    const times = await releaseVersions(n, 5);
    const result = await store().retention.pruneName(n, { before: (times[3] as number) - 1 }, 100);
    assert.equal(result.deleted, 3, 'released before the limit: the first three');
    assert.deepEqual(await history(n), [3, 4]);
    await store().retention.pruneName(n, { before: tick() + 1e6 }, 100);
    assert.deepEqual(await history(n), [4], 'the latest (also the highest seq) stays, however old');
  });

  test('retention: a backdated release that is not the latest may go, but not while it holds the highest seq', async () => {
    const n = name('backdated');
    const at = tick();
    await store().events.append(ev(n, at - 10, 'newest-timestamp'));
    await store().events.releaseDue(at, 1000);
    const at2 = tick();
    await store().events.append(ev(n, 1, 'backdated'));
    await store().events.releaseDue(at2, 1000); // the highest seq, not the latest
    await store().retention.pruneName(n, { versions: 1, before: tick() + 1e6 }, 100);
    assert.deepEqual(await history(n), ['backdated', 'newest-timestamp'], 'both protected');
    // Another release elsewhere takes the highest seq: now the backdated one may go.
    await releaseVersions(name('other'), 1);
    await store().retention.pruneName(n, { before: tick() + 1e6 }, 100);
    assert.deepEqual(await history(n), ['newest-timestamp']);
  });

  test('retention: cancelled versions past the same limits go too', async () => {
    const n = name('cancelled');
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const e = ev(n, tick() + 1e6, `c${i}`);
      await store().events.append(e);
      ids.push(e.id);
    }
    for (const id of ids) await store().events.cancel(id, 'r');
    await releaseVersions(n, 1);
    const result = await store().retention.pruneName(n, { versions: 2 }, 100);
    assert.equal(result.deleted, 2, 'of four cancelled, the two oldest cancels');
    assert.equal((await history(n)).length, 3);
  });

  test('retention: names and releasedAfter page in order', async () => {
    const prefix = name('zz-names');
    for (const suffix of ['b', 'a', 'c']) await releaseVersions(`${prefix}.${suffix}`, 1);
    const names = await store().retention.names(`${prefix}.`, 2);
    assert.deepEqual(names, [`${prefix}.a`, `${prefix}.b`]);
    const seq = await store().events.lastSeq();
    const rows = await store().retention.releasedAfter(seq - 2, 10);
    assert.deepEqual(rows.map((r) => r.seq), [seq - 1, seq]);
    assert.equal(rows[1]?.event, `${prefix}.c`);
  });
}
