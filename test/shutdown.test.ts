import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { SseClient } from './helpers/sse-client.js';
import { startBroker } from './helpers/start-broker.js';

test('close() does not wait for SHUTDOWN_TIMEOUT on silent sockets, aborted fetch streams or open streams', async () => {
  const b = await startBroker({ SHUTDOWN_TIMEOUT: '30' });
  const port = Number(new URL(b.url).port);
  // A client that connected and never sent a byte (Node does not count it as idle).
  const silent = net.connect(port, '127.0.0.1');
  silent.on('error', () => {});
  await new Promise<void>((resolve) => silent.once('connect', resolve));
  // A fetch stream aborted by its client (undici may keep a spare connection open).
  const aborter = new AbortController();
  const res = await fetch(`${b.url}/events`, { signal: aborter.signal });
  await res.body?.getReader().read();
  aborter.abort();
  // A stream still open: it must be ended, not waited for.
  const open = await SseClient.connect(`${b.url}/events`);
  await open.waitFor(() => open.frames.length >= 1, 5000, 'retry frame');
  const started = Date.now();
  await b.close();
  const took = Date.now() - started;
  assert.ok(took < 5000, `close took ${took} ms`);
  await open.waitForClose();
  silent.destroy();
});
