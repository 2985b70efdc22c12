import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import postgres from 'postgres';
import { insert, metrics, metricValue, nowSeconds, request, signUp } from './helpers/api.js';
import { type BrokerProcess, cleanupProcesses, startBrokerProcess } from './helpers/broker-process.js';
import { createTestDatabase, postgresSkip, type TestDatabase, testDatabaseUrl } from './helpers/postgres.js';
import { SseClient } from './helpers/sse-client.js';

const skip = postgresSkip();

/** Polls an async condition (no fixed sleep); fails after `timeoutMs`. */
async function eventually(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const releases = async (url: string): Promise<number> => metricValue(await metrics(url), 'broker_releases_total');

describe('several nodes on one PostgreSQL', { skip }, () => {
  let db: TestDatabase;
  let nodes: BrokerProcess[] = [];
  let token: string;
  const start = () => startBrokerProcess({ env: { DATABASE_URL: db.url, LOG_LEVEL: 'warn' } });

  before(async () => {
    db = await createTestDatabase();
    // Four nodes starting at once: migrations must run exactly once under the advisory lock.
    nodes = await Promise.all([start(), start(), start(), start()]);
    token = (await signUp(nodes[0]?.url ?? '')).token;
  });
  after(async () => {
    await cleanupProcesses();
    await db.drop();
  });
  const node = (i: number): BrokerProcess => nodes[i] as BrokerProcess;

  test('every subscriber on every node gets every event once, in the same order', async () => {
    const clients = await Promise.all(nodes.map((n) => SseClient.connect(`${n.url}/events?event=order`)));
    try {
      await Promise.all(clients.map((c) => c.waitFor(() => c.frames.length >= 1, 5000, 'retry frame')));
      // 80 inserts spread over the four nodes, 20 at a time, and a batch of 20 on each node.
      for (let round = 0; round < 4; round++) {
        await Promise.all(
          Array.from({ length: 20 }, (_, i) => insert(node((round + i) % 4).url, token, 'order', { n: round * 20 + i })),
        );
      }
      await Promise.all(
        nodes.map((n, k) =>
          request(n.url, 'POST', '/insert', { token, body: Array.from({ length: 20 }, (_, i) => ({ event: 'order', data: { batch: k, i } })) }),
        ),
      );
      const total = 160;
      await Promise.all(clients.map((c) => c.waitForEvents(total, 15_000)));
      const first = clients[0]?.ids ?? [];
      assert.equal(first.length, total);
      assert.equal(new Set(first).size, total, 'no duplicates');
      assert.deepEqual(first, Array.from({ length: total }, (_, i) => (first[0] ?? 0) + i), 'gapless, ascending');
      for (const c of clients) {
        assert.deepEqual(c.ids, first, 'same order on every node');
        assert.deepEqual(
          c.events.map((f) => f.data),
          clients[0]?.events.map((f) => f.data),
        );
      }
    } finally {
      for (const c of clients) c.close();
    }
  });

  test('a scheduled event is released once across nodes, at its time', async () => {
    const before = (await Promise.all(nodes.map((n) => releases(n.url)))).reduce((a, b) => a + b, 0);
    const clients = await Promise.all(nodes.map((n) => SseClient.connect(`${n.url}/events?event=alarm`)));
    try {
      await Promise.all(clients.map((c) => c.waitFor(() => c.frames.length >= 1, 5000, 'retry frame')));
      const due = nowSeconds() + 1;
      await insert(node(1).url, token, 'alarm', { ring: true }, due);
      await Promise.all(clients.map((c) => c.waitForEvents(1, 10_000)));
      await insert(node(2).url, token, 'alarm', { marker: true });
      await Promise.all(clients.map((c) => c.waitForEvents(2, 10_000)));
      for (const c of clients) {
        assert.equal(c.events.length, 2, 'exactly once per subscriber');
        assert.ok((c.events[0]?.receivedAt ?? 0) >= due * 1000, 'not before its time');
      }
      const total = (await Promise.all(nodes.map((n) => releases(n.url)))).reduce((a, b) => a + b, 0);
      assert.equal(total - before, 2, 'released by exactly one node each');
    } finally {
      for (const c of clients) c.close();
    }
  });

  test('cancel on one node stops the release everywhere; snapshot and history agree on every node', async () => {
    const due = nowSeconds() + 0.6;
    const id = await insert(node(0).url, token, 'promo', { v: 'cancelled' }, due);
    assert.equal((await request(node(2).url, 'POST', `/events/${id}/cancel`, { token })).status, 200);
    await insert(node(1).url, token, 'promo', { v: 'kept' }, due + 0.2);
    const c = await SseClient.connect(`${node(2).url}/events?event=promo`);
    try {
      await c.waitForEvents(1, 10_000);
      assert.deepEqual(JSON.parse(c.events[0]?.data ?? ''), { v: 'kept' });
    } finally {
      c.close();
    }
    for (const n of nodes) {
      const h = await request(n.url, 'GET', '/events/promo', { token });
      assert.deepEqual(
        (h.body as { cancelled: boolean; published: boolean }[]).map((e) => [e.cancelled, e.published]),
        [
          [true, false],
          [false, true],
        ],
      );
      const snap = await SseClient.connect(`${n.url}/events?event=promo`);
      await snap.waitForEvents(1);
      assert.deepEqual(JSON.parse(snap.events[0]?.data ?? ''), { v: 'kept' });
      snap.close();
    }
  });

  test('SIGKILL of a node during a burst loses no acknowledged insert; its subscriber resumes on another node', async () => {
    const victim = await start();
    const watcher = await SseClient.connect(`${victim.url}/events?event=burst`);
    await watcher.waitFor(() => watcher.frames.length >= 1, 5000, 'retry frame');
    const acked: string[] = [];
    let stop = false;
    const workers = Array.from({ length: 16 }, async (_, w) => {
      for (let i = 0; i < 100 && !stop; i++) {
        try {
          acked.push(await insert(victim.url, token, 'burst', { w, i }));
        } catch {
          return; // the node died under us: this insert was not acknowledged
        }
      }
    });
    await eventually(async () => acked.length >= 100, 30_000, '100 acknowledged inserts');
    await eventually(async () => watcher.events.length >= 10, 10_000, 'the watcher to receive some');
    victim.kill('SIGKILL');
    stop = true;
    await Promise.all(workers);
    await victim.exited;
    await watcher.waitForClose();
    const seen = watcher.ids;
    const lastId = String(seen[seen.length - 1]);
    // Everything acknowledged is in the database, and is released by the surviving nodes.
    const history = await request(node(0).url, 'GET', '/events/burst?limit=1000', { token });
    const stored = new Set((history.body as { id: string }[]).map((e) => e.id));
    for (const id of acked) assert.ok(stored.has(id), `acknowledged insert ${id} is present`);
    await eventually(
      async () => ((await request(node(0).url, 'GET', '/events/burst?limit=1000', { token })).body as { published: boolean }[]).every((e) => e.published),
      10_000,
      'every burst event to be released by a surviving node',
    );
    // The subscriber resumes on a surviving node: exactly the events after its last id.
    const resumed = await SseClient.connect(`${node(1).url}/events?event=burst`, { 'last-event-id': lastId });
    try {
      const expected = stored.size - seen.length;
      await resumed.waitForEvents(expected, 10_000);
      const all = [...seen, ...resumed.ids];
      assert.equal(new Set(all).size, all.length, 'no duplicates across the resume');
      assert.equal(all.length, stored.size, 'no event missing across the resume');
    } finally {
      resumed.close();
    }
  });

  test('one Idempotency-Key sent to every node at once: stored once, every node answers with the first answer', async () => {
    const key = `k-${Math.random().toString(36).slice(2)}`;
    const name = `idem-${key}`;
    const answers = await Promise.all(
      [...nodes, ...nodes].map((n) =>
        request(n.url, 'POST', '/insert', { token, body: [{ event: name, data: 1 }, { event: name, data: 2 }], headers: { 'idempotency-key': key } }),
      ),
    );
    assert.ok(answers.every((a) => a.status === 200), JSON.stringify(answers.map((a) => [a.status, a.body])));
    assert.equal(new Set(answers.map((a) => JSON.stringify(a.body))).size, 1, 'the same answer everywhere');
    assert.equal(answers.filter((a) => a.headers.get('idempotent-replayed') === null).length, 1, 'one was the first');
    const history = await request(node(3).url, 'GET', `/events/${name}`, { token });
    assert.equal((history.body as unknown[]).length, 2, 'stored once');
    const other = await request(node(1).url, 'POST', '/insert', { token, body: { event: name, data: 3 }, headers: { 'idempotency-key': key } });
    assert.equal(other.status, 422);
  });

  test('SIGKILL between commit and answer: every keyed request retried on another node is stored once, with its first answer', async () => {
    const victim = await start();
    const name = `killed-${Math.random().toString(36).slice(2)}`;
    const answered = new Map<string, string>();
    const sent: string[] = [];
    let stop = false;
    const send = (url: string, key: string) =>
      request(url, 'POST', '/insert', { token, body: { event: name, data: key }, headers: { 'idempotency-key': key } });
    const workers = Array.from({ length: 16 }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        const key = `${w}-${i}`;
        sent.push(key);
        try {
          const res = await send(victim.url, key);
          if (res.status === 200) answered.set(key, JSON.stringify(res.body));
        } catch {
          return; // no answer: in flight when the node died
        }
      }
    });
    await eventually(async () => answered.size >= 200, 30_000, '200 answered inserts');
    victim.kill('SIGKILL');
    stop = true;
    await Promise.all(workers);
    await victim.exited;
    // Every request sent — answered or not — is retried on another node with its key and body.
    for (const key of sent) {
      const res = await send(node(0).url, key);
      assert.equal(res.status, 200, `${key}: ${JSON.stringify(res.body)}`);
      const first = answered.get(key);
      if (first !== undefined) {
        assert.equal(JSON.stringify(res.body), first, `${key}: the retry gets the original answer`);
        assert.equal(res.headers.get('idempotent-replayed'), 'true');
      }
    }
    const stored = new Map<string, number>();
    for (let after: string | null = null; ; ) {
      const page = await request(node(2).url, 'GET', `/events/${name}?limit=1000${after ? `&after=${after}` : ''}`, { token });
      for (const e of page.body as { data: string }[]) stored.set(e.data, (stored.get(e.data) ?? 0) + 1);
      after = page.headers.get('x-next-after');
      if (!after) break;
    }
    for (const key of sent) assert.equal(stored.get(key), 1, `${key} stored exactly once`);
    assert.equal(stored.size, sent.length);
  });

  test('a database outage turns /health 503, then every node recovers by itself and delivers again', async () => {
    const admin = postgres(testDatabaseUrl ?? '', { max: 1, onnotice: () => {} });
    const c = await SseClient.connect(`${node(0).url}/events?event=after-outage`);
    try {
      await c.waitFor(() => c.frames.length >= 1, 5000, 'retry frame');
      // Like a restart of the server, for this database only: drop every connection and refuse new ones.
      await admin.unsafe(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS false`);
      await admin.unsafe(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${db.name}'`);
      for (const n of nodes) {
        await eventually(async () => (await request(n.url, 'GET', '/health')).status === 503, 15_000, `${n.url} unhealthy`);
      }
      await admin.unsafe(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS true`);
      for (const n of nodes) {
        await eventually(async () => (await request(n.url, 'GET', '/health')).status === 200, 15_000, `${n.url} healthy`);
      }
      // Inserted on another node: reaches node 0 through its re-established LISTEN connection.
      await insert(node(2).url, token, 'after-outage', { back: true });
      await c.waitForEvents(1, 15_000);
      assert.deepEqual(JSON.parse(c.events[0]?.data ?? ''), { back: true });
    } finally {
      c.close();
      await admin.unsafe(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS true`);
      await admin.end({ timeout: 5 });
    }
  });
});
