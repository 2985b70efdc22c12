import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Fastify from 'fastify';
import {
  BrokerConfigError,
  brokerFastify,
  createBrokerHandler,
  type ReleasedEventView,
  SYSTEM_USER_ID,
  startBroker,
} from '../src/index.js';
import { insert, request, signUp } from './helpers/api.js';
import { SseClient } from './helpers/sse-client.js';
import { tempDir } from './helpers/start-broker.js';

const dirs: string[] = [];
const options = () => {
  const dir = tempDir();
  dirs.push(dir);
  return {
    port: 0,
    host: '127.0.0.1',
    databaseUrl: `sqlite:${join(dir, 'b.db')}`,
    secret: 'library-secret-library-secret-0123456789',
    bcryptCost: 4,
    logLevel: 'silent' as const,
    env: {},
  };
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('startBroker', () => {
  test('starts a complete Broker; publish from server code reaches the stream and the iterator', async () => {
    const broker = await startBroker(options());
    try {
      assert.match(broker.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(broker.address.port, Number(new URL(broker.url).port));
      const seen: ReleasedEventView[] = [];
      const off = broker.onReleased((e) => seen.push(e));
      const iterator = broker.released({ names: ['job'] });
      const c = await SseClient.connect(`${broker.url}/events?event=job`);
      await c.waitFor(() => c.frames.length >= 1, 5000, 'retry frame');
      const { id } = await broker.publish({ event: 'job', data: { n: 1 } });
      const first = await iterator.next();
      assert.equal(first.done, false);
      assert.deepEqual(first.value && { id: first.value.id, data: first.value.data }, { id, data: { n: 1 } });
      await c.waitForEvents(1);
      assert.deepEqual(JSON.parse(c.events[0]?.data ?? ''), { n: 1 });
      // A user's insert over HTTP comes through the hooks too; the system author is visible in history.
      const user = await signUp(broker.url);
      await insert(broker.url, user.token, 'job', { n: 2 });
      const second = await iterator.next();
      assert.deepEqual(second.value?.data, { n: 2 });
      assert.deepEqual(
        seen.map((e) => e.data),
        [{ n: 1 }, { n: 2 }],
      );
      off();
      const history = await request(broker.url, 'GET', '/events/job', { token: user.token });
      assert.deepEqual(
        (history.body as { user_id: string }[]).map((e) => e.user_id),
        [SYSTEM_USER_ID, user.id],
      );
      // Same validation as POST /insert.
      await assert.rejects(broker.publish({ event: '', data: 1 }), /event must not be empty/);
      c.close();
      const ending = iterator.next();
      await broker.close();
      assert.equal((await ending).done, true, 'close ends the iterator');
    } finally {
      await broker.close();
    }
  });

  test('the iterator resumes after a seq and misses nothing however slowly it is read', async () => {
    const broker = await startBroker(options());
    try {
      for (let i = 0; i < 5; i++) await broker.publish({ event: 'r', data: i });
      // Released asynchronously: wait until the fifth is out, through the iterator itself.
      const all: number[] = [];
      for await (const e of broker.released({ after: 0 })) {
        all.push(e.data as number);
        if (all.length === 5) break;
      }
      assert.deepEqual(all, [0, 1, 2, 3, 4]);
      const fromThree: number[] = [];
      for await (const e of broker.released({ after: 3 })) {
        fromThree.push(e.data as number);
        if (fromThree.length === 2) break;
      }
      assert.deepEqual(fromThree, [3, 4]);
    } finally {
      await broker.close();
    }
  });

  test('a bare origin works like broker_run(origin); bad options reject with every problem', async () => {
    const env = { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', DATABASE_URL: options().databaseUrl, SECRET: 's'.repeat(40) };
    const broker = await startBroker({ origin: 'http://localhost:3000', env });
    try {
      const res = await fetch(`${broker.url}/health`, { headers: { origin: 'http://localhost:3000' } });
      assert.equal(res.headers.get('access-control-allow-origin'), 'http://localhost:3000');
    } finally {
      await broker.close();
    }
    await assert.rejects(
      startBroker({ port: -1, expiry: 0, origin: 'nope', env: {} } as never),
      (error: unknown) => {
        assert.ok(error instanceof BrokerConfigError);
        assert.equal(error.problems.length, 3);
        assert.ok(error.problems.some((p) => p.startsWith('port (PORT)')));
        assert.ok(error.problems.some((p) => p.startsWith('expiry (EXPIRY)')));
        return true;
      },
    );
    await assert.rejects(startBroker({ colour: 'blue', env: {} } as never), /unknown option "colour"/);
  });
});

describe('mounted in a host application', () => {
  test('Fastify plugin under a prefix, next to the host routes, closed by the host', async () => {
    const host = Fastify();
    host.get('/hello', async () => ({ hello: 'world' }));
    const broker = brokerFastify(options());
    await host.register(broker.plugin, { prefix: '/rt' });
    await host.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(host.server.address() as AddressInfo).port}`;
    try {
      assert.deepEqual((await request(base, 'GET', '/hello', { checkOpenApi: false })).body, { hello: 'world' });
      const user = await signUp(`${base}/rt`);
      const c = await SseClient.connect(`${base}/rt/events`);
      await c.waitFor(() => c.frames.length >= 1, 5000, 'retry frame');
      await insert(`${base}/rt`, user.token, 'mounted', { ok: true });
      await broker.publish({ event: 'mounted', data: { from: 'server' } });
      await c.waitForEvents(2);
      assert.deepEqual(
        c.events.map((f) => JSON.parse(f.data ?? '') as unknown),
        [{ ok: true }, { from: 'server' }],
      );
      assert.equal((await request(base, 'GET', '/rt/nope')).status, 404);
      const closing = host.close();
      await c.waitForClose();
      await closing;
    } finally {
      await host.close();
    }
  });

  test('plain node:http server routing a path prefix to Broker', async () => {
    const broker = await createBrokerHandler({ ...options(), prefix: '/broker' });
    const server = http.createServer((req, res) => {
      if (req.url?.startsWith('/broker/')) broker.handle(req, res);
      else res.end('host');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      assert.equal(await (await fetch(`${base}/other`)).text(), 'host');
      const user = await signUp(`${base}/broker`);
      const c = await SseClient.connect(`${base}/broker/events`);
      await c.waitFor(() => c.frames.length >= 1, 5000, 'retry frame');
      await insert(`${base}/broker`, user.token, 'plain', 1);
      await c.waitForEvents(1);
      c.close();
    } finally {
      await broker.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('access rules given to the library', () => {
  test('the rules option takes the document itself; publish is not bound by it, readers are', async () => {
    const broker = await startBroker({
      ...options(),
      rules: { rules: [{ names: 'staff.>', read: 'role:staff', write: 'none' }, { names: '>', read: 'public', write: 'user' }] },
    });
    try {
      const user = await signUp(broker.url);
      const denied = await request(broker.url, 'POST', '/insert', { token: user.token, body: { event: 'staff.memo', data: 1 } });
      assert.equal(denied.status, 403);
      await broker.publish({ event: 'staff.memo', data: 'from the host' });
      await broker.publish({ event: 'open.memo', data: 'for all' });
      const c = await SseClient.connect(`${broker.url}/events`);
      await c.waitFor(() => c.events.some((e) => e.event === 'open.memo'), 5000, 'the public memo');
      assert.ok(!c.events.some((e) => e.event === 'staff.memo'), 'an anonymous stream does not get the staff memo');
      c.close();
      const blocked = await SseClient.connect(`${broker.url}/events?event=staff.memo`);
      assert.equal(blocked.status, 403);
      blocked.close();
    } finally {
      await broker.close();
    }
  });

  test('an invalid rules document is a BrokerConfigError naming the rule, with the other problems', async () => {
    await assert.rejects(
      startBroker({ ...options(), port: -1, rules: { rules: [{ names: '>', read: 'nobody', write: 'user' }] } }),
      (error: unknown) =>
        error instanceof BrokerConfigError &&
        error.problems.some((p) => /rule 1 \(">"\): "read" has the unknown permission "nobody"/.test(p)) &&
        error.problems.some((p) => /^port/.test(p)),
    );
  });
});
