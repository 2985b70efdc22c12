import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { nowSeconds, request, signUp } from './helpers/api.js';
import { backends } from './helpers/backends.js';
import { cleanupProcesses, startBrokerProcess, waitUntil } from './helpers/broker-process.js';
import { expectError, unique } from './helpers/expect-error.js';
import { SseClient } from './helpers/sse-client.js';
import { startBroker, type TestBroker } from './helpers/start-broker.js';

const RULES = {
  rules: [
    { names: 'locked.>', read: 'public', write: 'none' },
    { names: '>', read: 'public', write: 'user' },
  ],
};

for (const backend of backends) {
  describe(`POST /insert batches and Idempotency-Key (${backend.name})`, { skip: backend.skip }, () => {
    let b: TestBroker;
    let token: string;
    let dropDatabase: () => Promise<void> = async () => {};
    before(async () => {
      const db = await backend.database();
      dropDatabase = db.cleanup;
      b = await startBroker({ ...db.env, INSERT_BATCH_MAX: '5' }, { rules: RULES });
      token = (await signUp(b.url)).token;
    });
    after(async () => {
      await b.close();
      await dropDatabase();
    });

    const insert = (body: unknown, headers: Record<string, string> = {}, as = token) =>
      request(b.url, 'POST', '/insert', { token: as, body, headers });
    const versions = async (name: string): Promise<unknown[]> =>
      ((await request(b.url, 'GET', `/events/${name}`, { token })).body as { data: unknown }[]).map((e) => e.data);

    test('an array is a batch: answered with the ids in order; its due events are released in timestamp order', async () => {
      const name = unique('batch');
      const stream = await SseClient.connect(`${b.url}/events?event=${name}`);
      await stream.waitFor(() => stream.frames.length >= 1);
      const t = nowSeconds();
      const res = await insert([
        { event: name, data: 'third', timestamp: t - 1 },
        { event: name, data: 'later', timestamp: t + 3600 },
        { event: name, data: 'first', timestamp: t - 3 },
        { event: name, data: 'second', timestamp: t - 2 },
      ]);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const ids = res.body as { id: string }[];
      assert.equal(ids.length, 4);
      assert.deepEqual(Object.keys(ids[0] ?? {}), ['id']);
      const history = (await request(b.url, 'GET', `/events/${name}`, { token })).body as { id: string; data: string }[];
      assert.deepEqual(
        ids.map((x) => history.find((h) => h.id === x.id)?.data),
        ['third', 'later', 'first', 'second'],
        'the ids in the order of the batch',
      );
      await stream.waitForEvents(3);
      assert.deepEqual(stream.events.map((e) => JSON.parse(e.data ?? '')), ['first', 'second', 'third']);
      stream.close();
      const pending = ids[1]?.id as string;
      assert.equal((await request(b.url, 'POST', `/events/${pending}/cancel`, { token })).status, 200);
    });

    test('a bad item is a 400 naming its index, and nothing of the batch is stored', async () => {
      const name = unique('bad');
      const cases: [unknown[], RegExp, number, string][] = [
        [[{ event: name, data: 1 }, { event: name, data: 2 }, { event: '', data: 3 }], /item 2: event must not be empty/, 400, 'invalid_input'],
        [[{ event: name, data: 1 }, { event: name }], /item 1: data is required/, 400, 'invalid_input'],
        [[{ event: name, data: 1 }, { event: name, data: 2, timestamp: 'soon' }], /item 1: timestamp/, 400, 'invalid_input'],
        [[{ event: name, data: 1 }, 'not an event'], /item 1: The body must be a JSON object/, 400, 'invalid_input'],
        [[{ event: name, data: 1 }, { event: 'locked.x', data: 2 }], /item 1: you may not write "locked.x"/, 403, 'forbidden'],
        [[], /empty/, 400, 'invalid_input'],
        [Array.from({ length: 6 }, (_, i) => ({ event: name, data: i })), /at most 5 events/, 400, 'invalid_input'],
      ];
      for (const [body, message, status, code] of cases) {
        const res = await insert(body);
        assert.match(expectError(res, status, code as 'invalid_input', JSON.stringify(body).slice(0, 80)), message);
      }
      assert.deepEqual(await versions(name), [], 'nothing stored');
    });

    test('Idempotency-Key: a retry gets the first answer and stores nothing; another body is a 422', async () => {
      const name = unique('idem');
      const key = unique('key');
      const first = await insert({ event: name, data: 1 }, { 'idempotency-key': key });
      assert.equal(first.status, 200);
      assert.equal(first.headers.get('idempotent-replayed'), null);
      const retry = await insert({ event: name, data: 1 }, { 'idempotency-key': key });
      assert.equal(retry.status, 200);
      assert.deepEqual(retry.body, first.body, 'the first answer');
      assert.equal(retry.headers.get('idempotent-replayed'), 'true');
      expectError(await insert({ event: name, data: 2 }, { 'idempotency-key': key }), 422, 'idempotency_conflict');
      assert.deepEqual(await versions(name), [1]);
      // Batches too; and a key belongs to its user.
      const batchKey = unique('key');
      const batch = [{ event: name, data: 'a' }, { event: name, data: 'b' }];
      const one = await insert(batch, { 'idempotency-key': batchKey });
      assert.deepEqual((await insert(batch, { 'idempotency-key': batchKey })).body, one.body);
      const other = await signUp(b.url);
      assert.equal((await insert(batch, { 'idempotency-key': batchKey }, other.token)).headers.get('idempotent-replayed'), null);
      assert.deepEqual(await versions(name), [1, 'a', 'b', 'a', 'b']);
      for (const bad of ['', 'x'.repeat(256), 'has space']) {
        expectError(await insert({ event: name, data: 3 }, { 'idempotency-key': bad }), 400, 'invalid_input', `key "${bad.slice(0, 10)}"`);
      }
    });

    test('concurrent requests with one key: one is stored, every one gets its answer', async () => {
      const name = unique('race');
      const key = unique('key');
      const answers = await Promise.all(Array.from({ length: 10 }, () => insert({ event: name, data: 'once' }, { 'idempotency-key': key })));
      assert.ok(answers.every((a) => a.status === 200), JSON.stringify(answers.map((a) => a.status)));
      assert.equal(new Set(answers.map((a) => JSON.stringify(a.body))).size, 1, 'one answer for all');
      assert.deepEqual(await versions(name), ['once']);
    });
  });
}

describe('idempotency across a crash (SQLite, a real process)', () => {
  after(cleanupProcesses);

  test('SIGKILL between commit and answer: after the restart every keyed request retried is stored once, with its first answer', async () => {
    let b = await startBrokerProcess({ env: { LOG_LEVEL: 'warn' } });
    const dir = b.dir;
    const { token } = await signUp(b.url);
    const name = unique('crash');
    const answered = new Map<string, string>();
    const sent: string[] = [];
    let stop = false;
    const send = (url: string, key: string) =>
      request(url, 'POST', '/insert', { token, body: [{ event: name, data: key }], headers: { 'idempotency-key': key } });
    const workers = Array.from({ length: 16 }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        const key = `${w}-${i}`;
        sent.push(key);
        try {
          const res = await send(b.url, key);
          if (res.status === 200) answered.set(key, JSON.stringify(res.body));
        } catch {
          return;
        }
      }
    });
    await waitUntil(() => answered.size >= 200, 30_000, '200 answered inserts');
    b.kill('SIGKILL');
    stop = true;
    await Promise.all(workers);
    await b.exited;
    b = await startBrokerProcess({ dir, env: { LOG_LEVEL: 'warn' } });
    try {
      for (const key of sent) {
        const res = await send(b.url, key);
        assert.equal(res.status, 200, `${key}: ${JSON.stringify(res.body)}`);
        const first = answered.get(key);
        if (first !== undefined) assert.equal(JSON.stringify(res.body), first, `${key}: the original answer`);
      }
      const counts = new Map<string, number>();
      for (let next: string | null = null; ; ) {
        const page = await request(b.url, 'GET', `/events/${name}?limit=1000${next ? `&after=${next}` : ''}`, { token });
        for (const e of page.body as { data: string }[]) counts.set(e.data, (counts.get(e.data) ?? 0) + 1);
        next = page.headers.get('x-next-after');
        if (!next) break;
      }
      for (const key of sent) assert.equal(counts.get(key), 1, `${key} stored exactly once`);
    } finally {
      await b.stop();
    }
  });
});
