import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { brokerFastify } from '../src/index.js';
import { insert, signUp } from './helpers/api.js';
import { SseClient } from './helpers/sse-client.js';
import { tempDir } from './helpers/start-broker.js';

// A collector this test can call: V8 lets a running program turn the flag on.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const dir = tempDir();
after(() => rmSync(dir, { recursive: true, force: true }));

test('an open stream keeps its socket, not the framework request and reply objects', async () => {
  // A logger and an onResponse hook, as the standalone server has: with either, Fastify
  // listens for the end of every response (and so holds its request and reply until then).
  const host = Fastify({ logger: { level: 'silent' } });
  host.addHook('onResponse', async () => {});
  const refs: WeakRef<FastifyRequest | FastifyReply>[] = [];
  host.addHook('onRequest', (request, reply, done) => {
    if (request.url.startsWith('/rt/events')) refs.push(new WeakRef(request), new WeakRef(reply));
    done();
  });
  const broker = brokerFastify({
    port: 0,
    host: '127.0.0.1',
    databaseUrl: `sqlite:${join(dir, 'b.db')}`,
    secret: 'memory-test-secret-memory-test-secret-0123',
    bcryptCost: 4,
    logLevel: 'info',
    env: {},
  });
  await host.register(broker.plugin, { prefix: '/rt' });
  await host.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(host.server.address() as AddressInfo).port}`;
  try {
    const user = await signUp(`${base}/rt`);
    const streams = [await SseClient.connect(`${base}/rt/events`), await SseClient.connect(`${base}/rt/events`)];
    for (const s of streams) await s.waitFor(() => s.frames.length >= 1, 5000, 'retry frame');
    assert.equal(refs.length, 4);
    // WeakRef targets stay alive until the job that made them ends: collect in later turns.
    for (let i = 0; i < 3 && refs.some((r) => r.deref() !== undefined); i++) {
      await new Promise((resolve) => setImmediate(resolve));
      gc();
    }
    assert.deepEqual(
      refs.map((r) => r.deref() === undefined),
      [true, true, true, true],
      'each stream holds ~0.9 KB less per connection once these are collectable',
    );
    // …and the streams still work.
    await insert(`${base}/rt`, user.token, 'after-gc', { ok: true });
    for (const s of streams) await s.waitForEvents(1);
    for (const s of streams) s.close();
  } finally {
    await host.close();
  }
});
