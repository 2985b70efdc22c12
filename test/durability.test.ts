import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openSqlite } from '../src/store/sqlite/open-sqlite.js';
import { nowSeconds, request, signUp } from './helpers/api.js';
import {
  type BrokerProcess,
  cleanupProcesses,
  makeTempDir,
  ObservedStream,
  startBrokerProcess,
  untilClockPasses,
} from './helpers/broker-process.js';
import { SseClient } from './helpers/sse-client.js';

after(cleanupProcesses);

interface HistoryItem {
  readonly id: string;
  readonly event: string;
  readonly timestamp: number;
  readonly published: boolean;
  readonly cancelled: boolean;
  readonly data: unknown;
}

async function history(base: string, token: string, name: string): Promise<HistoryItem[]> {
  const res = await request(base, 'GET', `/events/${encodeURIComponent(name)}?limit=1000`, { token });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.headers.get('x-next-after'), null, 'the test expects one page of history');
  return res.body as HistoryItem[];
}

/** One insert; the id if Broker acknowledged it with a 200, undefined for any other outcome. */
async function tryInsert(base: string, token: string, body: unknown): Promise<string | undefined> {
  try {
    const res = await request(base, 'POST', '/insert', { token, body });
    return res.status === 200 ? (res.body as { id: string }).id : undefined;
  } catch {
    return undefined; // connection refused / reset: not acknowledged
  }
}

/**
 * `loops` concurrent writers inserting one after another until one of their inserts is not
 * acknowledged; `onAck` runs after each acknowledgement. Resolves with every acknowledged
 * insert (id → data) and the number of attempts.
 */
async function burst(
  base: string,
  token: string,
  name: string,
  loops: number,
  onAck: (acked: number) => void,
  maxPerLoop = 1000,
): Promise<{ acked: Map<string, { loop: number; n: number }>; attempts: number }> {
  const acked = new Map<string, { loop: number; n: number }>();
  let attempts = 0;
  await Promise.all(
    Array.from({ length: loops }, async (_unused, loop) => {
      for (let n = 0; n < maxPerLoop; n++) {
        attempts += 1;
        const data = { loop, n };
        const id = await tryInsert(base, token, { event: name, data });
        if (id === undefined) return;
        acked.set(id, data);
        onAck(acked.size);
      }
    }),
  );
  return { acked, attempts };
}

const unique = (label: string): string => `${label}-${Math.random().toString(36).slice(2, 10)}`;

describe('durability across process restarts', () => {
  test('SIGKILL in the middle of a burst of concurrent inserts loses no acknowledged insert', async () => {
    const dir = makeTempDir();
    const first = await startBrokerProcess({ dir });
    const { token } = await signUp(first.url);
    const name = unique('burst');
    const killAfter = 200;
    let killedAt: number | undefined;
    const { acked, attempts } = await burst(first.url, token, name, 32, (count) => {
      if (count >= killAfter && killedAt === undefined) {
        killedAt = count;
        first.kill('SIGKILL');
      }
    });
    const exit = await first.exited;
    assert.equal(exit.signal, 'SIGKILL', 'the process was killed, not stopped');
    assert.ok(killedAt !== undefined, `the burst never reached ${killAfter} acknowledgements (${acked.size})`);
    assert.ok(attempts > acked.size, 'the kill fell in the middle of the burst (some inserts were cut off)');

    const second = await startBrokerProcess({ dir });
    try {
      const stored = await history(second.url, token, name);
      const byId = new Map(stored.map((e) => [e.id, e]));
      assert.equal(byId.size, stored.length, 'no duplicate ids in history');
      const missing = [...acked.keys()].filter((id) => !byId.has(id));
      assert.deepEqual(missing, [], `${missing.length} of ${acked.size} acknowledged inserts were lost`);
      for (const [id, data] of acked) assert.deepEqual(byId.get(id)?.data, data, `data of ${id}`);
      assert.ok(stored.length <= attempts, 'nothing appears that was never sent');
    } finally {
      await second.stop();
    }
  });

  test('restart keeps pending schedules: a near event is released at its time by the new process, a far one stays pending', async () => {
    const dir = makeTempDir();
    const first = await startBrokerProcess({ dir });
    const { token } = await signUp(first.url);
    const near = unique('near');
    const far = unique('far');
    // Due after the restart: stopping and starting again costs about two start-ups, and a loaded
    // CI machine varies them widely, so leave room for three plus 2 s.
    const nearAt = nowSeconds() + Math.max(4, (3 * first.startedInMs + 2000) / 1000);
    const farAt = nowSeconds() + 3600;
    assert.ok(await tryInsert(first.url, token, { event: near, timestamp: nearAt, data: { near: true } }));
    assert.ok(await tryInsert(first.url, token, { event: far, timestamp: farAt, data: { far: true } }));
    assert.deepEqual(
      (await history(first.url, token, near)).map((e) => e.published),
      [false],
    );
    assert.deepEqual(await first.stop(), { code: 0, signal: null });

    const second = await startBrokerProcess({ dir });
    const stream = await SseClient.connect(`${second.url}/events?event=${near}&event=${far}`);
    try {
      await stream.waitFor(() => stream.frames.length >= 1, 5000, 'the retry frame');
      const connectedAt = Date.now();
      assert.ok(
        connectedAt < nearAt * 1000,
        `restart took too long to test "not before": connected ${connectedAt - nearAt * 1000} ms after the due time`,
      );
      assert.equal(stream.events.length, 0, 'nothing is released yet, so no snapshot');
      await stream.waitForEvents(1, (nearAt - nowSeconds()) * 1000 + 5000);
      const frame = stream.events[0];
      assert.equal(frame?.event, near);
      assert.deepEqual(JSON.parse(frame?.data ?? ''), { near: true });
      assert.ok(
        frame !== undefined && frame.receivedAt >= nearAt * 1000,
        `arrived ${frame && nearAt * 1000 - frame.receivedAt} ms early`,
      );
      const nearHistory = await history(second.url, token, near);
      assert.deepEqual(
        nearHistory.map((e) => e.published),
        [true],
      );
      const farHistory = await history(second.url, token, far);
      assert.deepEqual(
        farHistory.map((e) => ({ published: e.published, cancelled: e.cancelled, timestamp: e.timestamp })),
        [{ published: false, cancelled: false, timestamp: farAt }],
      );
      assert.equal(
        stream.events.filter((f) => f.event === far).length,
        0,
        'the far event was not released',
      );
    } finally {
      stream.close();
      await second.stop();
    }
  });

  test('events that fell due while Broker was down are released at start-up, in timestamp order', async () => {
    const dir = makeTempDir();
    const first = await startBrokerProcess({ dir });
    const { token } = await signUp(first.url);
    const name = unique('overdue');
    // A released marker gives the last seq a reconnecting client would have seen.
    await tryInsert(first.url, token, { event: name, data: { marker: true } });
    const marker = await SseClient.connect(`${first.url}/events?event=${name}`);
    await marker.waitForEvents(1);
    marker.close();
    const lastSeen = marker.events[0]?.id ?? '';
    assert.match(lastSeen, /^\d+$/);

    const base = nowSeconds() + 2;
    const planned = [
      { label: 'third', timestamp: base + 0.4 },
      { label: 'first', timestamp: base },
      { label: 'second', timestamp: base + 0.2 },
    ];
    for (const p of planned) {
      const id = await tryInsert(first.url, token, { event: name, timestamp: p.timestamp, data: { label: p.label } });
      assert.ok(id, `insert ${p.label}`);
    }
    first.kill('SIGKILL');
    const killedAt = nowSeconds();
    assert.ok(killedAt < base, `killed ${killedAt - base} s after the first was due: too slow to test this`);
    assert.equal((await first.exited).signal, 'SIGKILL');

    await untilClockPasses(base + 0.4 + 0.05);

    const second = await startBrokerProcess({ dir });
    const resumed = await SseClient.connect(`${second.url}/events?event=${name}`, { 'last-event-id': lastSeen });
    try {
      await resumed.waitForEvents(3);
      const labels = resumed.events.map((f) => (JSON.parse(f.data ?? '') as { label: string }).label);
      assert.deepEqual(labels, ['first', 'second', 'third'], 'released in timestamp order, not insertion order');
      const ids = resumed.ids;
      assert.ok(
        ids.every((id, i) => i === 0 || id > (ids[i - 1] ?? Number.POSITIVE_INFINITY)),
        `ascending ids: ${ids.join(',')}`,
      );
      assert.ok((ids[0] ?? 0) > Number(lastSeen), 'all after the last seen id');
      const stored = await history(second.url, token, name);
      assert.deepEqual(
        stored.map((e) => [(e.data as { label?: string }).label ?? 'marker', e.published]),
        [
          ['marker', true],
          ['first', true],
          ['second', true],
          ['third', true],
        ],
      );
    } finally {
      resumed.close();
      await second.stop();
    }
  });

  test('SIGTERM with an open stream and inserts in flight: the stream ends cleanly, every 200 survives, exit 0', async () => {
    const dir = makeTempDir();
    const first = await startBrokerProcess({ dir, env: { SHUTDOWN_TIMEOUT: '3' } });
    const { token } = await signUp(first.url);
    const name = unique('term');
    const stream = ObservedStream.open(`${first.url}/events?event=${name}`);
    let term: BrokerProcess['exited'] | undefined;
    try {
      await stream.waitFor(() => stream.frames.length >= 1, 5000, 'the retry frame');
      const signalAfter = 40;
      const { acked } = await burst(first.url, token, name, 8, (count) => {
        if (count >= signalAfter && term === undefined && stream.events.length > 0) {
          first.kill('SIGTERM');
          term = first.exited;
        }
      });
      assert.ok(term !== undefined, `SIGTERM was never sent (${acked.size} acknowledged, ${stream.events.length} streamed)`);
      const exit = await first.exited;
      assert.deepEqual(exit, { code: 0, signal: null }, first.stderr.join('\n'));
      await stream.waitForOutcome(5000);
      assert.equal(stream.outcome, 'ended', 'the client sees the response end, not a reset');
      assert.equal(stream.partial, '', 'the stream ends after a whole frame');
      assert.equal(first.stderr.join(''), '');

      const second = await startBrokerProcess({ dir });
      try {
        const stored = await history(second.url, token, name);
        const ids = new Set(stored.map((e) => e.id));
        const missing = [...acked.keys()].filter((id) => !ids.has(id));
        assert.deepEqual(missing, [], `${missing.length} of ${acked.size} acknowledged inserts were lost`);
        // What the stream delivered before the end is a prefix of the release order.
        const streamedIds = stream.events.map((f) => Number(f.id));
        assert.deepEqual([...streamedIds].sort((a, b) => a - b), streamedIds, 'streamed in release order');
        assert.equal(new Set(streamedIds).size, streamedIds.length, 'no duplicates on the stream');
      } finally {
        await second.stop();
      }
      // Last, so that the durability checks above run either way.
      const forced = first.logs.find((l) => /shutdown timeout/.test(String(l.msg)));
      assert.equal(forced, undefined, 'shutdown had to wait for SHUTDOWN_TIMEOUT and force-close connections');
    } finally {
      stream.destroy();
    }
  });

  test('after a commit fails (the events table briefly renamed away by another process), inserts are acknowledged again and SIGTERM still exits 0', async () => {
    // The rename stands in for any transient commit failure: disk full, SQLITE_BUSY after the
    // busy timeout, an I/O error. Broker must answer it (500) and recover once the cause is gone.
    const b = await startBrokerProcess({ env: { SHUTDOWN_TIMEOUT: '2' } });
    const { token } = await signUp(b.url);
    const name = unique('recover');
    assert.ok(await tryInsert(b.url, token, { event: name, data: { n: 1 } }), 'a first insert works');
    const db = openSqlite(join(b.dir, 'broker.db'));
    try {
      db.exec('ALTER TABLE events RENAME TO events_moved_away');
      const failed = await request(b.url, 'POST', '/insert', { token, body: { event: name, data: { n: 2 } } });
      assert.equal(failed.status, 500, JSON.stringify(failed.body));
    } finally {
      db.exec('ALTER TABLE events_moved_away RENAME TO events');
      db.close();
    }

    let after: { status: number; body: unknown } | string;
    try {
      const res = await fetch(`${b.url}/insert`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ event: name, data: { n: 3 } }),
        signal: AbortSignal.timeout(3000),
      });
      after = { status: res.status, body: (await res.json()) as unknown };
    } catch (error) {
      after = `no answer: ${error instanceof Error ? error.message : String(error)}`;
    }

    b.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const exit = await Promise.race([
      b.exited,
      new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve('still running 6 s after SIGTERM'), 6000);
      }),
    ]);
    clearTimeout(timer);
    // Both checked together, so that one failure does not hide the other.
    assert.deepEqual(
      { insertAfterRepair: typeof after === 'string' ? after : after.status, exit },
      { insertAfterRepair: 200, exit: { code: 0, signal: null } },
    );
  });
});
