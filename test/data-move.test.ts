import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { insert, nowSeconds, request, signUp } from './helpers/api.js';
import { backends } from './helpers/backends.js';
import { cleanupProcesses, makeTempDir } from './helpers/broker-process.js';
import { exportTo, freshTarget, importFrom, PASSWORD, sqliteUrl } from './helpers/dump.js';
import { unique } from './helpers/expect-error.js';
import { SseClient } from './helpers/sse-client.js';
import { startBroker, type TestBroker } from './helpers/start-broker.js';

after(cleanupProcesses);

// The documented way from one node on SQLite to several on PostgreSQL (and to another SQLite
// file): stop, export, import, start. Most of each test is waiting for the pending event's due
// time, so the two run side by side.
describe("moving a node's data to another database", { concurrency: 2 }, () => {
  for (const backend of backends) {
    test(`moving to ${backend.name} (export, import, start): a client resumes with its Last-Event-ID, nothing lost or repeated; tokens and refresh tokens still work, a logout still holds; a pending event is released on time`, {
      skip: backend.skip,
    }, async () => {
      const source = await startBroker({}, { dir: makeTempDir() });
      const target = await freshTarget(backend);
      let moved: TestBroker | undefined;
      let client: SseClient | undefined;
      try {
        const ada = await signUp(source.url);
        const second = (await request(source.url, 'POST', '/login', { body: { username: ada.username, password: PASSWORD } })).body as {
          jwt: string;
          refresh_token: string;
        };
        const third = (await request(source.url, 'POST', '/login', { body: { username: ada.username, password: PASSWORD } })).body as {
          jwt: string;
        };
        assert.equal((await request(source.url, 'POST', '/logout', { token: third.jwt })).status, 200);
        const name = unique('move');
        await insert(source.url, ada.token, name, { n: 1 });
        await insert(source.url, ada.token, name, { n: 2 });
        const past = Math.floor(nowSeconds()) - 50;
        await insert(source.url, ada.token, `${name}.tie`, { k: 'first' }, past);
        await insert(source.url, ada.token, `${name}.tie`, { k: 'second' }, past);
        // Due well after the move (two CLI runs and a start on a loaded machine).
        const due = Math.ceil(nowSeconds()) + 25;
        await insert(source.url, ada.token, name, { pending: true }, due);

        const first = await SseClient.connect(`${source.url}/events?event=${name}`, { 'Last-Event-ID': '0' });
        await first.waitForEvents(2);
        assert.deepEqual(first.ids, [1, 2]);
        first.close();
        // Released after the client left: it must get them on the new database.
        await insert(source.url, ada.token, name, { n: 3 });
        await insert(source.url, ada.token, name, { n: 4 });
        await source.close();

        const file = join(makeTempDir(), 'move.ndjson');
        await exportTo(sqliteUrl(source.dir), file);
        const imported = await importFrom(target.url, file);
        assert.equal(imported.code, 0, imported.stderr);
        assert.match(imported.stdout, /imported 1 users, 7 events, 2 latest rows, 3 sessions, 3 refresh tokens, 1 auth changes; release position 6/);
        moved = await startBroker(target.brokerEnv, target.brokerOptions);
        assert.ok(nowSeconds() < due - 1, `the new node must be up before the pending event is due (it was ${(nowSeconds() - due).toFixed(1)} s late)`);

        client = await SseClient.connect(`${moved.url}/events?event=${name}`, { 'Last-Event-ID': '2' });
        await client.waitForEvents(2, 5000);
        assert.deepEqual(client.events.map((e) => [e.id, e.data]), [['5', '{"n":3}'], ['6', '{"n":4}']]);
        await client.waitForEvents(3, (due - nowSeconds() + 5) * 1000);
        const pending = client.events[2];
        assert.deepEqual([pending?.id, pending?.data], ['7', '{"pending":true}']);
        const late = (pending?.receivedAt ?? 0) - due * 1000;
        assert.ok(late >= -5 && late <= 1500, `released on time on the new database (${late} ms after its due time)`);
        await insert(moved.url, ada.token, name, { n: 5 });
        await client.waitForEvents(4);
        assert.deepEqual(client.ids, [5, 6, 7, 8], 'the release sequence goes on after the imported position, nothing repeated');

        assert.equal((await request(moved.url, 'GET', '/me', { token: ada.token })).status, 200, 'a token issued before the move');
        assert.equal((await request(moved.url, 'GET', '/me', { token: third.jwt })).status, 401, 'a session logged out before the move stays ended');
        const refreshed = await request(moved.url, 'POST', '/token/refresh', { body: { refresh_token: second.refresh_token } });
        assert.equal(refreshed.status, 200, 'a refresh token issued before the move');
        const fresh = (refreshed.body as { jwt: string }).jwt;
        assert.equal((await request(moved.url, 'GET', '/me', { token: fresh })).status, 200);
        // A new entry of the auth change log: its id must come after the imported ones.
        assert.equal((await request(moved.url, 'POST', '/logout', { token: fresh })).status, 200, 'a logout after the move');
        assert.equal((await request(moved.url, 'GET', '/me', { token: fresh })).status, 401);
        const ties = await request(moved.url, 'GET', `/events/${name}.tie`, { token: ada.token });
        assert.deepEqual(
          (ties.body as { data: { k: string } }[]).map((e) => e.data.k),
          ['first', 'second'],
          'equal timestamps keep their insertion order',
        );
      } finally {
        client?.close();
        await moved?.close();
        await target.cleanup();
      }
    });

  }
});
