import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { EventSource as NodeEventSource } from 'eventsource';
import { BrokerClient, type ConnectionStatus, type EventSourceConstructor, type StreamEvent } from '../src/client/index.js';
import {
  cleanupProcesses,
  makeTempDir,
  startBrokerProcess,
  untilClockPasses,
  waitUntil,
} from './helpers/broker-process.js';
import { startBroker } from './helpers/start-broker.js';

after(() => cleanupProcesses());

const PASSWORD = 'correct horse battery';

interface Recorder {
  readonly label: string;
  readonly events: StreamEvent<{ n: number }>[];
  readonly statuses: ConnectionStatus[];
  close(): void;
}

function watch(client: BrokerClient, label: string, name: string, transport: 'fetch' | 'eventsource'): Recorder {
  const events: StreamEvent<{ n: number }>[] = [];
  const statuses: ConnectionStatus[] = [];
  const sub = client.subscribe<{ n: number }>({
    events: [name],
    transport,
    minDelayMs: 100, // the EventSource transport cannot see retry:
    maxDelayMs: 800,
    onEvent: (e) => events.push(e),
    onStatus: (s) => statuses.push(s),
  });
  return { label, events, statuses, close: () => sub.close() };
}

/** Exactly the `expected` events, each once, with strictly increasing ids. */
function assertExactlyOnce(r: Recorder, expected: readonly number[]): void {
  assert.deepEqual(
    r.events.map((e) => e.data.n),
    expected,
    `${r.label}: every event once, in release order`,
  );
  assertIncreasingIds(r);
}

function assertIncreasingIds(r: Recorder): void {
  const ids = r.events.map((e) => Number(e.id));
  for (let i = 1; i < ids.length; i++) assert.ok((ids[i] ?? 0) > (ids[i - 1] ?? 0), `${r.label}: ids increase`);
}

/**
 * Every event exactly once, group after group in the order the groups were released (within
 * a group of concurrent inserts, in any order), with strictly increasing ids.
 */
function assertReleaseOrder(r: Recorder, groups: readonly (readonly number[])[]): void {
  const received = r.events.map((e) => e.data.n);
  assert.equal(received.length, groups.flat().length, `${r.label}: as many events as were inserted`);
  let at = 0;
  for (const group of groups) {
    const slice = received.slice(at, at + group.length);
    assert.deepEqual([...slice].sort((a, b) => a - b), [...group].sort((a, b) => a - b), `${r.label}: events ${group.join(',')} once each, in place`);
    at += group.length;
  }
  assertIncreasingIds(r);
}

test('the server is killed (SIGKILL) in the middle of a stream and restarted: clients catch up without loss or duplicates', { timeout: 60_000 }, async () => {
  const dir = makeTempDir();
  const first = await startBrokerProcess({ dir, env: { RETRY: '100' } });
  const client = new BrokerClient({ url: first.url });
  await client.createUser({ username: 'restart', password: PASSWORD });
  await client.login({ username: 'restart', password: PASSWORD });
  const esClient = new BrokerClient({ url: first.url, EventSource: NodeEventSource as unknown as EventSourceConstructor });
  const name = 'counter';
  const recorders = [watch(client, 'fetch', name, 'fetch'), watch(esClient, 'EventSource', name, 'eventsource')];
  try {
    await waitUntil(() => recorders.every((r) => r.statuses.at(-1)?.state === 'open'), 10_000, 'both streams open');
    let n = 0;
    const insert = async (timestamp?: number): Promise<number> => {
      n += 1;
      const mine = n;
      await client.insert({ event: name, data: { n: mine }, ...(timestamp === undefined ? {} : { timestamp }) });
      return mine;
    };
    const before: number[] = [];
    for (let i = 0; i < 3; i++) before.push(await insert());
    await waitUntil(() => recorders.every((r) => r.events.length === 3), 10_000, 'the first three events');

    // A burst of concurrent inserts (committed together, released in an order of the server's
    // choosing), then three events due a second later, and the kill right after: the streams
    // are cut while the burst is being delivered, and the last three fall due while the
    // server is down (whatever the timing, they are released after the burst).
    const burst = await Promise.all(Array.from({ length: 30 }, () => insert()));
    const due = Date.now() / 1000 + 1;
    const dueLater: number[] = [];
    for (let i = 0; i < 3; i++) dueLater.push(await insert(due + i * 0.01));
    first.kill('SIGKILL');
    await first.exited;
    const seenAtKill = recorders.map((r) => r.events.length);
    await waitUntil(() => recorders.every((r) => r.statuses.some((s) => s.state === 'reconnecting' && s.attempt >= 2)), 10_000, 'failed reconnections');
    await untilClockPasses(due + 0.1);

    const second = await startBrokerProcess({ dir, env: { RETRY: '100', PORT: String(first.port) } });
    try {
      const afterRestart: number[] = [];
      for (let i = 0; i < 5; i++) afterRestart.push(await insert());
      await waitUntil(() => recorders.every((r) => r.events.length >= n), 15_000, `all ${n} events`);
      // A last marker proves nothing more (no duplicate) was on its way.
      afterRestart.push(await insert());
      await waitUntil(() => recorders.every((r) => r.events.length >= n), 10_000, 'the marker');
      const [viaFetch, viaEventSource] = recorders;
      assert.deepEqual(
        viaEventSource?.events.map((e) => [e.id, e.data.n]),
        viaFetch?.events.map((e) => [e.id, e.data.n]),
        'both transports received the same events with the same ids',
      );
      for (const r of recorders) {
        assertReleaseOrder(r, [before, burst, dueLater, afterRestart]);
        const states = r.statuses.map((s) => s.state);
        assert.equal(states.at(-1), 'open', `${r.label}: open again`);
        assert.ok(states.includes('reconnecting'), `${r.label}: reported the loss`);
        const waits = r.statuses.filter((s) => s.retryInMs !== undefined);
        for (const s of waits) {
          const cap = Math.min(800, 100 * 2 ** (s.attempt - 1));
          assert.ok((s.retryInMs ?? 0) >= cap / 2 && (s.retryInMs ?? 0) <= cap, `${r.label}: attempt ${s.attempt} waited ${s.retryInMs} ms`);
        }
      }
      // Not an assertion (it depends on timing), but it shows what the resume had to bring.
      console.log(`events received when the server was killed: ${seenAtKill.join(', ')} of ${n - afterRestart.length}; total ${n}`);
    } finally {
      await second.stop();
    }
  } finally {
    for (const r of recorders) r.close();
  }
});

test('a graceful restart (in-process, same port and database) is just as seamless', async () => {
  const first = await startBroker({ RETRY: '50', SHUTDOWN_TIMEOUT: '0.5' }, { dir: makeTempDir() });
  const port = new URL(first.url).port;
  const client = new BrokerClient({ url: first.url });
  await client.createUser({ username: 'graceful', password: PASSWORD });
  await client.login({ username: 'graceful', password: PASSWORD });
  const r = watch(client, 'fetch', 'g', 'fetch');
  let second: Awaited<ReturnType<typeof startBroker>> | undefined;
  try {
    for (let n = 1; n <= 5; n++) await client.insert({ event: 'g', data: { n } });
    await first.close();
    await waitUntil(() => r.statuses.at(-1)?.state === 'reconnecting', 5000, 'the loss');
    second = await startBroker({ RETRY: '50', SHUTDOWN_TIMEOUT: '0.5', PORT: port }, { dir: first.dir });
    for (let n = 6; n <= 8; n++) await client.insert({ event: 'g', data: { n } });
    await waitUntil(() => r.events.length >= 8, 10_000, 'eight events');
    await client.insert({ event: 'g', data: { n: 9 } });
    await waitUntil(() => r.events.length >= 9, 10_000, 'the marker');
    assertExactlyOnce(r, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  } finally {
    r.close();
    await second?.close();
  }
});
