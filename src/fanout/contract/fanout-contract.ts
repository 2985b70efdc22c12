import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Store } from '../../store/store.js';
import type { Fanout } from '../fanout.js';

export interface FanoutNode {
  readonly store: Store;
  readonly fanout: Fanout;
}

export interface FanoutFactory {
  /** `count` nodes on one fresh database; a single-process backend may return fewer. */
  nodes(count: number): Promise<readonly FanoutNode[]>;
  /** Cuts every node's database connections (the backend must reconnect by itself), if it can. */
  dropConnections?(): Promise<void>;
  cleanup?(): Promise<void>;
}

/** Resolves when `check` holds, polling every 10 ms; fails after `ms`. */
async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * What every fan-out must do, with the store it is paired with: a release on any node reaches
 * every node's sink; wakes reach the other nodes; a lost connection is followed by a catch-up.
 * A single-process backend skips the cross-node cases, saying why.
 */
export function fanoutContract(backend: string, factory: FanoutFactory): void {
  describe(`Fanout contract: ${backend}`, () => {
    let nodes: readonly FanoutNode[] = [];
    const heard: number[][] = [];
    const woken: (number | undefined)[][] = [];
    before(async () => {
      nodes = await factory.nodes(3);
      nodes.forEach((n, i) => {
        heard[i] = [];
        woken[i] = [];
        n.fanout.onReleased((upTo) => heard[i]?.push(upTo));
        n.fanout.onWake((dueAt) => woken[i]?.push(dueAt));
      });
    });
    after(async () => {
      for (const n of nodes) await n.fanout.close();
      for (const n of nodes) await n.store.close();
      await factory.cleanup?.();
    });
    const release = async (n: FanoutNode): Promise<number> => {
      // Due in an hour, so the append itself releases nothing; then released explicitly.
      const at = Date.now() / 1000 + 3600;
      await n.store.events.append({ id: randomUUID(), userId: 'u', event: 'f', timestamp: at, data: '1' });
      const released = await n.store.events.releaseDue(at, 100);
      const last = released[released.length - 1];
      assert.ok(last, 'something was released');
      await n.fanout.publish(last.seq);
      return last.seq;
    };

    test('a release on a node reaches every node, with its seq', async () => {
      for (const origin of nodes) {
        const seq = await release(origin);
        await until(() => heard.every((h) => h.some((s) => s >= seq)), 5000, `every node to hear seq ${seq}`);
      }
    });

    test('a wake reaches the other nodes with its due time', async (t) => {
      if (nodes.length < 2) {
        t.skip(`${backend} is a single process: there are no other nodes to wake`);
        return;
      }
      const dueAt = Date.now() / 1000 + 3600;
      await nodes[0]?.fanout.wakeOthers(dueAt);
      await nodes[0]?.fanout.wakeOthers(undefined);
      await until(() => woken.slice(1).every((w) => w.includes(dueAt) && w.includes(undefined)), 5000, 'wakes');
    });

    test('after losing its connection a node catches up with the newest seq by itself', async (t) => {
      if (!factory.dropConnections || nodes.length < 2) {
        t.skip(`${backend} has no connection to lose`);
        return;
      }
      await factory.dropConnections();
      // A query already bound to a killed pool connection fails once (503 for a request, which
      // is the honest answer: its outcome is unknown); wait until node 0's store answers again.
      const origin = nodes[0] as FanoutNode;
      const deadline = Date.now() + 15_000;
      for (;;) {
        try {
          await origin.store.ping();
          break;
        } catch (error) {
          if (Date.now() > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
      // Released while the other nodes may still be reconnecting: they must hear this seq anyway.
      const seq = await release(origin);
      await until(() => heard.every((h) => h.some((s) => s >= seq)), 15_000, `every node to catch up to ${seq}`);
    });
  });
}
