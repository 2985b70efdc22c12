import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { pino } from 'pino';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import type { EventStore } from '../store/store.js';
import { AccessPolicy } from '../access/access-policy.js';
import { loadRules } from '../access/load-rules.js';
import { Hub, type HubMetrics } from './hub.js';
import { StreamFilter } from './stream-filter.js';
import type { SubscriberSink } from './subscriber-sink.js';

/** A sink that records frames; `stalled` makes it report a growing unsent buffer (a slow client). */
class FakeSink implements SubscriberSink {
  written = '';
  closed = false;
  ended = false;
  stalled = false;
  private pending = 0;
  private listeners: (() => void)[] = [];
  get bufferedBytes(): number {
    return this.pending;
  }
  write(chunk: Buffer): boolean {
    if (this.closed) return false;
    if (this.stalled) this.pending += chunk.length;
    else this.written += chunk.toString();
    return true;
  }
  waitDrain(): Promise<void> {
    return Promise.resolve();
  }
  end(): void {
    this.ended = true;
    this.close();
  }
  destroy(): void {
    this.close();
  }
  onClose(listener: () => void): void {
    this.listeners.push(listener);
  }
  private close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const l of this.listeners) l();
  }
  get ids(): number[] {
    return [...this.written.matchAll(/^id:(\d+)$/gm)].map((m) => Number(m[1]));
  }
}

const metrics = (): HubMetrics & { drops: number; count: number } => {
  const m = {
    drops: 0,
    count: 0,
    subscribers: (n: number) => {
      m.count = n;
    },
    dropped: () => {
      m.drops += 1;
    },
    delivered: () => {},
    stage: () => {},
  };
  return m;
};

/** The default rules: every name public. */
const open = new AccessPolicy(loadRules(undefined));

describe('Hub', () => {
  let store: SqliteStore;
  let now = 1000;
  beforeEach(() => {
    // The store's clock stays at 0: appends release nothing, each test releases explicitly.
    store = new SqliteStore(':memory:', () => 0);
  });
  afterEach(() => store.close());

  const release = async (hub: Hub, name: string, count: number): Promise<void> => {
    for (let i = 0; i < count; i++) {
      await store.events.append({ id: randomUUID(), userId: 'u', event: name, timestamp: now, data: `{"i":${i}}` });
    }
    now += 1;
    const released = await store.events.releaseDue(now, 10_000);
    const last = released[released.length - 1];
    if (last) hub.released(last.seq);
  };
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  /** A started hub with one open stream, on a store that counts its reads; `settled` answers appendsSettled. */
  const countingHub = async (settled: () => Promise<void> | undefined) => {
    const counter = { reads: 0 };
    const counting: EventStore = {
      ...store.events,
      readReleased: async (q) => {
        counter.reads += 1;
        return store.events.readReleased(q);
      },
      appendsSettled: settled,
    };
    const hub = new Hub(counting, open, { sendBufferLimit: 1 << 20, heartbeatMs: 60_000, retryMs: 1000, pageSize: 10 }, metrics(), pino({ level: 'silent' }));
    await hub.start();
    const sink = new FakeSink();
    await hub.subscribe(sink, {});
    return { hub, sink, counter };
  };

  test('a slow subscriber is dropped while a fast one keeps receiving', async () => {
    const m = metrics();
    const hub = new Hub(store.events, open, { sendBufferLimit: 1024, heartbeatMs: 60_000, retryMs: 1000, pageSize: 100 }, m, pino({ level: 'silent' }));
    await hub.start();
    const fast = new FakeSink();
    const slow = new FakeSink();
    await hub.subscribe(fast, {});
    await hub.subscribe(slow, {});
    slow.stalled = true;
    for (let round = 0; round < 20; round++) {
      await release(hub, 'feed', 5);
      await settle();
    }
    assert.equal(slow.closed, true, 'slow subscriber dropped');
    assert.equal(m.drops, 1);
    assert.equal(fast.closed, false);
    assert.equal(fast.ids.length, 100, 'fast subscriber got every event');
    assert.equal(hub.size, 1);
    hub.close();
    assert.equal(fast.ended, true, 'close ends streams cleanly');
  });

  test('events released while a snapshot is being read are delivered once, after it, in order', async () => {
    let gate: () => void = () => {};
    const gated = new Promise<void>((resolve) => {
      gate = resolve;
    });
    let first = true;
    const slowStore: EventStore = {
      ...store.events,
      readLatest: async (q) => {
        if (first) {
          first = false;
          await gated;
        }
        return store.events.readLatest(q);
      },
    };
    const hub = new Hub(slowStore, open, { sendBufferLimit: 1 << 20, heartbeatMs: 60_000, retryMs: 1000, pageSize: 3 }, metrics(), pino({ level: 'silent' }));
    await hub.start();
    for (const n of ['a', 'b', 'c', 'd']) await release(hub, n, 1);
    const sink = new FakeSink();
    const subscribing = hub.subscribe(sink, {});
    await settle();
    await release(hub, 'a', 2); // live while the snapshot is stalled
    await settle();
    gate();
    await subscribing;
    await release(hub, 'e', 1);
    await settle();
    // The snapshot is as of seq 4, but 'a' has moved on to seq 6 since: its old version (1) is
    // left out and the two newer ones come through the catch-up, so no stale value is sent.
    assert.deepEqual(sink.ids, [2, 3, 4, 5, 6, 7]);
    assert.match(sink.written, /^retry:1000\n\n/);
  });

  test('resume from a seq replays with a name filter, then joins live without a gap', async () => {
    const hub = new Hub(store.events, open, { sendBufferLimit: 1 << 20, heartbeatMs: 60_000, retryMs: 1000, pageSize: 2 }, metrics(), pino({ level: 'silent' }));
    await hub.start();
    for (const n of ['x', 'y', 'x', 'y', 'x']) await release(hub, n, 1);
    const sink = new FakeSink();
    await hub.subscribe(sink, { lastEventId: 1, filter: StreamFilter.parse(['x']) });
    await release(hub, 'y', 1);
    await release(hub, 'x', 1);
    await settle();
    assert.deepEqual(sink.ids, [3, 5, 7]);
  });

  test('an id beyond the sequence (a reset database) gets a snapshot instead of silence', async () => {
    const hub = new Hub(store.events, open, { sendBufferLimit: 1 << 20, heartbeatMs: 60_000, retryMs: 1000, pageSize: 10 }, metrics(), pino({ level: 'silent' }));
    await hub.start();
    await release(hub, 'k', 1);
    const sink = new FakeSink();
    await hub.subscribe(sink, { lastEventId: 999 });
    assert.deepEqual(sink.ids, [1]);
  });

  test('a failed store read is retried by the next notification, even of the same seq', async () => {
    let fail = false;
    const flaky: EventStore = {
      ...store.events,
      readReleased: async (q) => {
        if (fail) {
          fail = false;
          throw new Error('connection lost');
        }
        return store.events.readReleased(q);
      },
    };
    const hub = new Hub(flaky, open, { sendBufferLimit: 1 << 20, heartbeatMs: 60_000, retryMs: 1000, pageSize: 10 }, metrics(), pino({ level: 'silent' }));
    await hub.start();
    const sink = new FakeSink();
    await hub.subscribe(sink, {});
    fail = true;
    await release(hub, 'r', 1);
    await settle();
    assert.deepEqual(sink.ids, [], 'the read failed');
    hub.released(await store.events.lastSeq()); // e.g. the catch-up after a reconnect
    await settle();
    assert.deepEqual(sink.ids, [1]);
  });

  test('offered events are delivered without a store read; after a gap the store is read', async () => {
    const { hub, sink, counter } = await countingHub(() => store.events.appendsSettled());
    const releaseNext = async (count: number, offer: boolean): Promise<number> => {
      for (let i = 0; i < count; i++) {
        await store.events.append({ id: randomUUID(), userId: 'u', event: 'o', timestamp: now, data: `{"i":${i}}` });
      }
      now += 1;
      const released = await store.events.releaseDue(now, 10_000);
      if (offer) hub.offer(released);
      return (released[released.length - 1] as { seq: number }).seq;
    };
    hub.released(await releaseNext(2, true));
    await settle();
    assert.deepEqual(sink.ids, [1, 2]);
    assert.equal(counter.reads, 0, 'delivered from the offered events');
    await releaseNext(2, false); // released elsewhere: only its seq will be known
    hub.released(await releaseNext(2, true));
    await settle();
    assert.deepEqual(sink.ids, [1, 2, 3, 4, 5, 6], 'the gap was read from the store, in order');
    assert.equal(counter.reads, 1);
    hub.released(await releaseNext(1, true));
    await settle();
    assert.deepEqual(sink.ids, [1, 2, 3, 4, 5, 6, 7]);
    assert.equal(counter.reads, 1, 'back to the offered events once contiguous again');
    assert.match(sink.written, /^id:7\nevent:o\ndata:\{"i":0\}\n\n/m);
  });

  test('streams with filters of their own get all of a batch, or their names of it, in order', async () => {
    const hub = new Hub(store.events, open, { sendBufferLimit: 1 << 20, heartbeatMs: 60_000, retryMs: 1000, pageSize: 10 }, metrics(), pino({ level: 'silent' }));
    await hub.start();
    const sinks = { all: new FakeSink(), some: new FakeSink(), one: new FakeSink(), none: new FakeSink(), open: new FakeSink() };
    await hub.subscribe(sinks.all, { filter: StreamFilter.parse(['a', 'b', 'c']) });
    await hub.subscribe(sinks.some, { filter: StreamFilter.parse(['a', 'c']) });
    await hub.subscribe(sinks.one, { filter: StreamFilter.parse(['b']) });
    await hub.subscribe(sinks.none, { filter: StreamFilter.parse(['z']) });
    await hub.subscribe(sinks.open, {});
    const batch = async (names: string[]): Promise<void> => {
      for (const name of names) await store.events.append({ id: randomUUID(), userId: 'u', event: name, timestamp: now, data: `{"n":"${name}"}` });
      now += 1;
      const released = await store.events.releaseDue(now, 10_000);
      hub.offer(released); // one batch, delivered as one
      hub.released((released[released.length - 1] as { seq: number }).seq);
      await settle();
    };
    await batch(['a', 'b', 'c']);
    await batch(['c', 'a']);
    assert.deepEqual(sinks.all.ids, [1, 2, 3, 4, 5]);
    assert.deepEqual(sinks.some.ids, [1, 3, 4, 5]);
    assert.deepEqual(sinks.one.ids, [2]);
    assert.deepEqual(sinks.none.ids, []);
    assert.deepEqual(sinks.open.ids, [1, 2, 3, 4, 5]);
    assert.match(sinks.all.written, /^id:5\nevent:a\ndata:\{"n":"a"\}\n\n/m, 'the second batch, not the first again');
  });

  test('a release heard of before its commit answered, and answers out of order, need no store read', async () => {
    let answered: () => void = () => {};
    let inFlight: Promise<void> | undefined;
    const { hub, sink, counter } = await countingHub(() => inFlight);
    const releaseNext = async (count: number) => {
      for (let i = 0; i < count; i++) {
        await store.events.append({ id: randomUUID(), userId: 'u', event: 'n', timestamp: now, data: `{"i":${i}}` });
      }
      now += 1;
      return store.events.releaseDue(now, 10_000);
    };
    const a = await releaseNext(2); // seqs 1–2
    const b = await releaseNext(2); // seqs 3–4
    // The NOTIFY of the later commit comes first, while both answers are still on their way.
    inFlight = new Promise<void>((resolve) => {
      answered = resolve;
    });
    hub.released(4);
    await settle();
    assert.deepEqual(sink.ids, [], 'waits for the answers');
    hub.offer(b);
    hub.offer(a);
    inFlight = undefined;
    answered();
    await settle();
    assert.deepEqual(sink.ids, [1, 2, 3, 4], 'in seq order');
    assert.equal(counter.reads, 0, 'delivered from the answers');
    // An answer that never brings the events (another node's release): read once the wait is over.
    inFlight = Promise.resolve();
    hub.released((await releaseNext(1)).at(-1)?.seq ?? 0);
    await settle();
    assert.deepEqual(sink.ids, [1, 2, 3, 4, 5]);
    assert.equal(counter.reads, 1);
  });

  test('a commit heard of before its answer is delivered with the answer, without waiting for a commit behind it', async () => {
    let answered: () => void = () => {};
    // Two commits in flight, pipelined: appendsSettled settles when both have answered.
    const inFlight = new Promise<void>((resolve) => {
      answered = resolve;
    });
    const { hub, sink, counter } = await countingHub(() => inFlight);
    await store.events.append({ id: randomUUID(), userId: 'u', event: 'p', timestamp: now, data: '{}' });
    now += 1;
    const first = await store.events.releaseDue(now, 10_000);
    hub.released(1); // its NOTIFY, before its answer
    await settle();
    assert.deepEqual(sink.ids, []);
    hub.offer(first); // its answer; the second commit has not answered
    await settle();
    assert.deepEqual(sink.ids, [1], 'delivered while the commit behind it is still in flight');
    assert.equal(counter.reads, 0);
    answered();
  });

  test('heartbeats go to every live stream on one shared timer', async () => {
    const hub = new Hub(store.events, open, { sendBufferLimit: 1 << 20, heartbeatMs: 20, retryMs: 1000, pageSize: 10 }, metrics(), pino({ level: 'silent' }));
    await hub.start();
    const sinks = [new FakeSink(), new FakeSink()];
    for (const s of sinks) await hub.subscribe(s, {});
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (sinks.every((s) => s.written.includes(':hb\n\n'))) {
          clearInterval(check);
          resolve();
        }
      }, 5);
    });
    hub.close();
  });
});
