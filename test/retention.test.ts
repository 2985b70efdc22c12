import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { insert, metrics, metricValue, nowSeconds, request, signUp, until } from './helpers/api.js';
import { backends } from './helpers/backends.js';
import { unique } from './helpers/expect-error.js';
import { SseClient } from './helpers/sse-client.js';
import { startBroker, type TestBroker } from './helpers/start-broker.js';

/** `keep.days` of the `brief.>` names: 3 s. */
const BRIEF_DAYS = 3 / 86_400;

const RULES = {
  rules: [
    { names: 'log.>', read: 'public', write: 'user', keep: { versions: 3 } },
    { names: 'brief.>', read: 'public', write: 'user', keep: { days: BRIEF_DAYS } },
    { names: '>', read: 'public', write: 'user' },
  ],
};

for (const backend of backends) {
  describe(`retention (${backend.name})`, { skip: backend.skip }, () => {
    let b: TestBroker;
    let token: string;
    let dropDatabase: () => Promise<void> = async () => {};
    before(async () => {
      const db = await backend.database();
      dropDatabase = db.cleanup;
      // Rounds every 200 ms, so the test waits for fractions of a second, not the default 5 s.
      b = await startBroker({ ...db.env, PRUNE_INTERVAL: '0.2' }, { rules: RULES });
      token = (await signUp(b.url)).token;
    });
    after(async () => {
      await b.close();
      await dropDatabase();
    });

    const versions = async (name: string): Promise<unknown[]> => {
      const res = await request(b.url, 'GET', `/events/${encodeURIComponent(name)}`, { token });
      return (res.body as { data: unknown }[]).map((e) => e.data);
    };

    test('keep.versions: the newest N stay, pending versions and the latest are never pruned, others names keep all', async () => {
      const name = `log.${unique('a')}`;
      const other = `keep.${unique('all')}`;
      const before = metricValue(await metrics(b.url), 'broker_pruned_total');
      const pending = await insert(b.url, token, name, 'future', nowSeconds() + 3600);
      for (let i = 0; i < 10; i++) {
        await insert(b.url, token, name, i);
        await insert(b.url, token, other, i);
      }
      await until(() => versions(name), (v) => v.length === 4, 'pruned to the newest three (and the pending one)', 10_000);
      assert.deepEqual(await versions(name), [7, 8, 9, 'future']);
      assert.equal((await versions(other)).length, 10, 'a name without keep keeps every version');
      assert.ok(metricValue(await metrics(b.url), 'broker_pruned_total') - before >= 7);
      const snap = await SseClient.connect(`${b.url}/events?event=${encodeURIComponent(name)}`);
      await snap.waitForEvents(1);
      assert.deepEqual(snap.events.map((e) => JSON.parse(e.data ?? '')), [9], 'the snapshot still has the current value');
      snap.close();
      assert.equal((await request(b.url, 'POST', `/events/${pending}/cancel`, { token })).status, 200);
    });

    test('a Last-Event-ID replay across pruning gives what is left, in order, then goes live', async () => {
      const name = `log.${unique('resume')}`;
      const first = await SseClient.connect(`${b.url}/events?event=${encodeURIComponent(name)}`);
      await insert(b.url, token, name, 0);
      await first.waitForEvents(1);
      const lastId = first.events[0]?.id as string;
      first.close();
      for (let i = 1; i <= 6; i++) await insert(b.url, token, name, i);
      await until(() => versions(name), (v) => v.length === 3, 'pruned', 10_000);
      const resumed = await SseClient.connect(`${b.url}/events?event=${encodeURIComponent(name)}`, { 'last-event-id': lastId });
      await resumed.waitForEvents(3);
      assert.deepEqual(resumed.events.map((e) => JSON.parse(e.data ?? '')), [4, 5, 6], 'the versions still kept, in order');
      await insert(b.url, token, name, 7);
      await resumed.waitForEvents(4);
      assert.deepEqual(JSON.parse(resumed.events[3]?.data ?? ''), 7);
      const ids = resumed.ids;
      assert.deepEqual([...ids].sort((x, y) => x - y), ids, 'ascending');
      resumed.close();
    });

    test('keep.days: released versions older than the limit go, the latest stays', async () => {
      const name = `brief.${unique('d')}`;
      for (let i = 0; i < 4; i++) await insert(b.url, token, name, i);
      assert.equal((await versions(name)).length, 4);
      // Past 3 s they are old: all but the latest go.
      await until(() => versions(name), (v) => v.length === 1, 'aged out', 15_000);
      assert.deepEqual(await versions(name), [3]);
    });
  });
}
