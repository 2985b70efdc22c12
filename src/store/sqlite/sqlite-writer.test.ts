import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { openSqlite } from './open-sqlite.js';
import { migrate } from './sqlite-schema.js';
import { threadWriter } from './sqlite-writer.js';

const dir = mkdtempSync(join(tmpdir(), 'broker-writer-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the writer thread answers appends queued together each with its own seqs, releases reported once, in order', async () => {
  const path = join(dir, 'w.db');
  const db = openSqlite(path);
  migrate(db);
  db.close();
  // A small group cap, so that the calls below cannot all share one transaction.
  const writer = threadWriter(path, 5);
  try {
    const item = (i: number, timestamp: number) => ({ id: `e${i}`, userId: 'u', event: 'w', timestamp, data: String(i) });
    // Each call: one request of several events (a batch).
    const batch = (...events: ReturnType<typeof item>[]) => [{ events }];
    // Sent without waiting: whatever queues while the thread is busy is merged (up to 5 rows).
    const calls = [
      writer.append(batch(item(0, 10), item(1, 99)), 50, 1000),
      writer.append(batch(item(2, 20)), 50, 1000),
      writer.run('createUser', { id: 'u1', username: 'amy', passwordHash: 'h', info: '{}' }, 50),
      writer.append(batch(item(3, 5), item(4, 30), item(5, 40)), 50, 1000),
      writer.append(batch(item(6, 45), item(7, 46)), 60, 1000),
      writer.append(batch(item(8, 70)), 60, 1000),
    ];
    const [a, b, user, c, d, e] = await Promise.all(calls);
    assert.equal(user, 'created');
    const appends = [a, b, c, d, e] as { released: { id: string; seq: number }[]; batches: { seqs: (number | null)[] }[] }[];
    // Each call's own items, in their order; an item due later than its commit stays pending.
    assert.deepEqual(
      appends.map((r) => r.batches[0]?.seqs),
      [[1, null], [2], [3, 4, 5], [6, 7], [null]],
    );
    // Every release reported exactly once, in seq order across the calls.
    const reported = appends.flatMap((r) => r.released.map((x) => [x.seq, x.id]));
    assert.deepEqual(reported, [
      [1, 'e0'],
      [2, 'e2'],
      [3, 'e3'],
      [4, 'e4'],
      [5, 'e5'],
      [6, 'e6'],
      [7, 'e7'],
    ]);
  } finally {
    await writer.close();
  }
});
