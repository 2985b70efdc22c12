import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { NewEvent, Store } from '../store.js';
import { appendContract } from './append-contract.js';
import { retentionContract } from './retention-contract.js';
import { userContract } from './user-contract.js';

export interface StoreFactory {
  /** A store on a fresh, empty database, reading time (epoch s) from `now`. */
  create(now: () => number): Promise<Store>;
  /** Closes `store` and opens the same database again (durability), if the backend can. */
  reopen?(store: Store, now: () => number): Promise<Store>;
  /** Removes what create() made. */
  cleanup?(): Promise<void>;
}

/**
 * The behaviour every storage backend must share. Each backend's test file calls this once;
 * a backend that cannot do something lists the skipped case with its reason, never a stub.
 */
export function storeContract(backend: string, factory: StoreFactory): void {
  describe(`Store contract: ${backend}`, () => {
    let store: Store;
    /**
     * The store's clock. It stays at 0 (before every timestamp used), so appends release
     * nothing by themselves and each test releases explicitly, except where a test moves it.
     */
    let storeNow = 0;
    const appendReleases: number[][] = [];
    before(async () => {
      store = await factory.create(() => storeNow);
      store.events.onAppendRelease((released) => appendReleases.push(released.map((r) => r.seq)));
    });
    after(async () => {
      await store.close();
      await factory.cleanup?.();
    });

    const ev = (name: string, timestamp: number, data: unknown = null, userId = 'u1'): NewEvent => ({
      id: randomUUID(),
      userId,
      event: name,
      timestamp,
      data: JSON.stringify(data),
    });
    const name = (label: string): string => `${label}-${randomUUID().slice(0, 8)}`;
    /** A clock far ahead of every timestamp used, so "due" is explicit in each test. */
    let clock = 1_000_000;
    const tick = (): number => {
      clock += 1000;
      return clock;
    };

    test('users: unique ignoring case, found ignoring case', async () => {
      const username = name('Alice');
      const user = { id: randomUUID(), username, passwordHash: 'h', info: '{"a":1}' };
      assert.equal(await store.users.createUser(user), 'created');
      assert.equal(
        await store.users.createUser({ ...user, id: randomUUID(), username: username.toUpperCase() }),
        'taken',
      );
      const found = await store.users.findUserByName(username.toLowerCase());
      assert.deepEqual(found, { ...user, roles: [], disabled: false, gen: 0, createdAt: 0 });
      assert.equal(await store.users.findUserByName(name('nobody')), undefined);
    });

    test('append stores an unreleased version and keeps data text exactly', async () => {
      const e = ev(name('a'), 5, { s: 'x\ny', u: '€😀', n: [1, 2.5, null] });
      const stored = await store.events.append(e);
      assert.equal(stored.published, false);
      assert.equal(stored.cancelled, false);
      assert.equal(stored.seq, undefined);
      const [h] = (await store.events.history(e.event, { limit: 10 })) ?? [];
      assert.equal(h?.data, e.data);
      assert.equal(h?.timestamp, 5);
      await store.events.releaseDue(tick(), 1000);
    });

    test('concurrent appends are all committed, each with its own result', async () => {
      const n = name('burst');
      const events = Array.from({ length: 200 }, (_, i) => ev(n, i + 1, { i }));
      const results = await Promise.all(events.map((e) => store.events.append(e)));
      assert.deepEqual(
        results.map((r) => r.id),
        events.map((e) => e.id),
      );
      const history = (await store.events.history(n, { limit: 1000 })) ?? [];
      assert.equal(history.length, 200);
      await store.events.releaseDue(tick(), 1000);
    });

    test('releaseDue: only due events, timestamp order, ties in insertion order, gapless seqs', async () => {
      const now = tick();
      const n = name('rel');
      const late = ev(n, now + 500, 'future');
      const b1 = ev(n, now - 10, 'b1');
      const a = ev(n, now - 20, 'a');
      const b2 = ev(n, now - 10, 'b2');
      for (const e of [late, b1, a, b2]) await store.events.append(e);
      const before = await store.events.lastSeq();
      const released = await store.events.releaseDue(now, 1000);
      assert.deepEqual(
        released.map((r) => r.id),
        [a.id, b1.id, b2.id],
      );
      assert.deepEqual(
        released.map((r) => r.seq),
        [before + 1, before + 2, before + 3],
      );
      assert.equal(await store.events.lastSeq(), before + 3);
      assert.deepEqual(await store.events.releaseDue(now, 1000), [], 'nothing released twice');
      assert.equal(await store.events.nextDueAt(), now + 500);
      const second = await store.events.releaseDue(now + 500, 1000);
      assert.deepEqual(
        second.map((r) => [r.id, r.seq]),
        [[late.id, before + 4]],
      );
      const r = second[0];
      assert.ok(r && r.releasedAt === now + 500 && r.insertedAt === 0, 'times read from the store clock');
    });

    test('releaseDue honours its limit and continues where it stopped', async () => {
      const now = tick();
      const n = name('lim');
      for (let i = 0; i < 5; i++) await store.events.append(ev(n, now - 5 + i, i));
      const first = await store.events.releaseDue(now, 2);
      const rest = await store.events.releaseDue(now, 10);
      assert.equal(first.length, 2);
      assert.equal(rest.length, 3);
      assert.deepEqual(
        [...first, ...rest].map((r) => r.data),
        ['0', '1', '2', '3', '4'],
      );
    });

    test('cancel: own unreleased event only, and it is never released', async () => {
      const now = tick();
      const n = name('can');
      const mine = ev(n, now + 100, 'mine', 'owner');
      const released = ev(n, now - 1, 'released', 'owner');
      await store.events.append(mine);
      await store.events.append(released);
      await store.events.releaseDue(now, 1000);
      assert.deepEqual(await store.events.cancel(randomUUID(), 'owner'), { kind: 'not_found' });
      assert.deepEqual(await store.events.cancel(mine.id, 'intruder'), { kind: 'forbidden' });
      assert.deepEqual(await store.events.cancel(released.id, 'owner'), { kind: 'already_released' });
      const ok = await store.events.cancel(mine.id, 'owner');
      assert.equal(ok.kind, 'cancelled');
      assert.ok(ok.kind === 'cancelled' && ok.event.cancelled && !ok.event.published);
      assert.deepEqual(await store.events.cancel(mine.id, 'owner'), { kind: 'already_cancelled' });
      const theirs = ev(n, now + 200, 'theirs', 'owner');
      await store.events.append(theirs);
      const byAdmin = await store.events.cancel(theirs.id, 'admin-user', true);
      assert.ok(byAdmin.kind === 'cancelled' && byAdmin.event.userId === 'owner', 'an admin may cancel any pending event');
      assert.deepEqual(await store.events.releaseDue(now + 1000, 1000), []);
      const history = (await store.events.history(n, { limit: 10 })) ?? [];
      assert.deepEqual(
        history.map((h) => [h.data, h.published, h.cancelled]),
        [
          ['"released"', true, false],
          ['"mine"', false, true],
          ['"theirs"', false, true],
        ],
      );
    });

    test("pending: a user's unreleased, uncancelled events in timestamp order, paged by id", async () => {
      const now = tick();
      const who = `pend-${randomUUID()}`;
      const n = name('pend');
      const later = ev(n, now + 30, 'later', who);
      const sooner = ev(n, now + 10, 'sooner', who);
      const cancelled = ev(n, now + 20, 'cancelled', who);
      const released = ev(n, now - 1, 'released', who);
      const other = ev(n, now + 15, 'other', 'someone-else');
      for (const e of [later, sooner, cancelled, released, other]) await store.events.append(e);
      await store.events.releaseDue(now, 1000);
      await store.events.cancel(cancelled.id, who);
      const all = (await store.events.pending(who, { limit: 10 })) ?? [];
      assert.deepEqual(all.map((e) => e.data), ['"sooner"', '"later"']);
      const page = (await store.events.pending(who, { limit: 1, after: sooner.id })) ?? [];
      assert.deepEqual(page.map((e) => e.data), ['"later"']);
      assert.equal(await store.events.pending(who, { limit: 1, after: other.id }), undefined, "another user's id");
      await store.events.cancel(sooner.id, who);
      await store.events.cancel(later.id, who);
      await store.events.cancel(other.id, 'someone-else');
    });

    test('nextDueAt is the earliest pending time, ignoring released and cancelled', async () => {
      const now = tick();
      assert.equal(await store.events.nextDueAt(), undefined);
      const n = name('due');
      const x = ev(n, now + 30);
      await store.events.append(ev(n, now + 50));
      await store.events.append(x);
      assert.equal(await store.events.nextDueAt(), now + 30);
      await store.events.cancel(x.id, 'u1');
      assert.equal(await store.events.nextDueAt(), now + 50);
      await store.events.releaseDue(now + 50, 1000);
      assert.equal(await store.events.nextDueAt(), undefined);
    });

    test('readReleased: after a seq, ascending, limited, optionally by names', async () => {
      const now = tick();
      const a = name('ra');
      const b = name('rb');
      const start = await store.events.lastSeq();
      for (let i = 0; i < 6; i++) await store.events.append(ev(i % 2 ? a : b, now - 10 + i, i));
      await store.events.releaseDue(now, 1000);
      const all = await store.events.readReleased({ after: start, limit: 100 });
      assert.deepEqual(
        all.map((r) => r.seq),
        [1, 2, 3, 4, 5, 6].map((i) => start + i),
      );
      const page = await store.events.readReleased({ after: start + 2, limit: 2 });
      assert.deepEqual(
        page.map((r) => r.seq),
        [start + 3, start + 4],
      );
      const onlyA = await store.events.readReleased({ after: start, names: [a], limit: 100 });
      assert.deepEqual(
        onlyA.map((r) => r.data),
        ['1', '3', '5'],
      );
      assert.deepEqual(await store.events.readReleased({ after: start + 6, limit: 10 }), []);
    });

    test('readLatest: newest timestamp wins, ties by seq, a backdated release never replaces it', async () => {
      const now = tick();
      const n = name('lat');
      const other = name('lat-other');
      await store.events.append(ev(n, now - 5, 'newest'));
      await store.events.append(ev(other, now - 7, 'other'));
      await store.events.releaseDue(now, 1000);
      await store.events.append(ev(n, now - 100, 'backdated'));
      await store.events.releaseDue(now, 1000);
      const upTo = await store.events.lastSeq();
      const latest = await store.events.readLatest({ after: 0, upTo, names: [n, other], limit: 100 });
      assert.deepEqual(new Map(latest.map((r) => [r.event, r.data])), new Map([
        [n, '"newest"'],
        [other, '"other"'],
      ]));
      const seqs = latest.map((r) => r.seq);
      assert.deepEqual([...seqs].sort((x, y) => x - y), seqs, 'ascending seq');
      // Same timestamp: the later release wins.
      await store.events.append(ev(n, now - 5, 'tie-later'));
      await store.events.releaseDue(now, 1000);
      const tie = await store.events.readLatest({ after: 0, upTo: await store.events.lastSeq(), names: [n], limit: 10 });
      assert.deepEqual(
        tie.map((r) => r.data),
        ['"tie-later"'],
      );
      // upTo bounds the snapshot: a version released after it is left to the live stream.
      const bounded = await store.events.readLatest({ after: 0, upTo, names: [n], limit: 10 });
      assert.deepEqual(bounded, []);
    });

    test('readLatest pages by seq and covers every name once', async () => {
      const now = tick();
      const prefix = name('page');
      const names = Array.from({ length: 7 }, (_, i) => `${prefix}-${i}`);
      for (const n of names) await store.events.append(ev(n, now - 1, n));
      await store.events.releaseDue(now, 1000);
      const upTo = await store.events.lastSeq();
      const seen: string[] = [];
      let afterSeq = 0;
      for (;;) {
        const page = await store.events.readLatest({ after: afterSeq, upTo, names, limit: 3 });
        seen.push(...page.map((r) => r.event));
        if (page.length < 3) break;
        afterSeq = page[page.length - 1]?.seq ?? 0;
      }
      assert.deepEqual(seen, names);
    });

    test('history: ascending timestamp, ties in insertion order, paged by id', async () => {
      const n = name('hist');
      const ids: string[] = [];
      for (const [t, d] of [
        [30, 'c'],
        [10, 'a1'],
        [20, 'b'],
        [10, 'a2'],
      ] as const) {
        const e = ev(n, t, d);
        ids.push(e.id);
        await store.events.append(e);
      }
      const all = (await store.events.history(n, { limit: 10 })) ?? [];
      assert.deepEqual(
        all.map((h) => h.data),
        ['"a1"', '"a2"', '"b"', '"c"'],
      );
      const p1 = (await store.events.history(n, { limit: 2 })) ?? [];
      const p2 = (await store.events.history(n, { limit: 2, after: p1[1]?.id })) ?? [];
      const p3 = (await store.events.history(n, { limit: 2, after: p2[1]?.id })) ?? [];
      assert.deepEqual(
        [...p1, ...p2].map((h) => h.data),
        ['"a1"', '"a2"', '"b"', '"c"'],
      );
      assert.deepEqual(p3, []);
      assert.equal(await store.events.history(n, { limit: 2, after: randomUUID() }), undefined);
      assert.deepEqual(await store.events.history(name('none'), { limit: 2 }), []);
      await store.events.releaseDue(tick(), 1000);
    });

    test('appendsSettled: undefined when no append is under way; else settles once its releases were reported', async () => {
      assert.equal(store.events.appendsSettled(), undefined);
      const now = tick();
      const start = await store.events.lastSeq();
      appendReleases.length = 0;
      storeNow = now;
      try {
        const appending = store.events.appendBatch({ events: [ev(name('settled'), now - 1), ev(name('settled'), now - 1)] });
        // The batch forms on the next turn of the event loop; from then on it is under way.
        await new Promise((resolve) => setImmediate(resolve));
        const settled = store.events.appendsSettled();
        assert.ok(settled, 'an append is under way');
        await settled;
        assert.deepEqual(appendReleases, [[start + 1, start + 2]], 'its releases were reported by then');
        const outcome = await appending;
        assert.equal(outcome.kind, 'stored');
        assert.equal(store.events.appendsSettled(), undefined);
      } finally {
        storeNow = 0;
      }
    });

    test('append of a due event releases it in the same commit, with anything else due, in order', async () => {
      const now = tick();
      const n = name('due-insert');
      const earlier = ev(n, now - 5, 'earlier, pending');
      const future = ev(n, now + 500, 'future');
      await store.events.append(earlier);
      await store.events.append(future);
      const start = await store.events.lastSeq();
      appendReleases.length = 0;
      storeNow = now;
      try {
        const stored = await store.events.append(ev(n, now - 1, 'backdated'));
        assert.equal(stored.published, true);
        assert.equal(stored.seq, start + 2, 'after the earlier due event, in timestamp order');
        assert.deepEqual(appendReleases, [[start + 1, start + 2]], 'reported once, after commit');
        const history = (await store.events.history(n, { limit: 10 })) ?? [];
        assert.deepEqual(
          history.map((h) => [h.data, h.seq]),
          [
            ['"earlier, pending"', start + 1],
            ['"backdated"', start + 2],
            ['"future"', undefined],
          ],
        );
      } finally {
        storeNow = 0;
      }
      await store.events.releaseDue(now + 500, 1000);
    });

    test('appends committed together release with the stored due events in timestamp order, ties by insertion', async () => {
      const now = tick();
      const n = name('merge');
      await store.events.append(ev(n, now - 3, 's1'));
      await store.events.append(ev(n, now - 1, 's2'));
      const start = await store.events.lastSeq();
      appendReleases.length = 0;
      storeNow = now;
      try {
        // Submitted in one tick: one group commit (both backends batch what one tick submits).
        const stored = await Promise.all(
          [ev(n, now - 2, 'b1'), ev(n, now - 4, 'b2'), ev(n, now - 1, 'b3'), ev(n, now + 100, 'b4')].map((e) =>
            store.events.append(e),
          ),
        );
        assert.deepEqual(
          stored.map((s) => [s.data, s.published, s.seq]),
          [
            ['"b1"', true, start + 3],
            ['"b2"', true, start + 1],
            ['"b3"', true, start + 5],
            ['"b4"', false, undefined],
          ],
        );
        assert.deepEqual(appendReleases, [[start + 1, start + 2, start + 3, start + 4, start + 5]]);
        const released = await store.events.readReleased({ after: start, names: [n], limit: 10 });
        assert.deepEqual(
          released.map((r) => [r.data, r.seq, r.releasedAt, r.insertedAt]),
          [
            ['"b2"', start + 1, now, now],
            ['"s1"', start + 2, now, 0],
            ['"b1"', start + 3, now, now],
            ['"s2"', start + 4, now, 0],
            ['"b3"', start + 5, now, now],
          ],
        );
        // The latest version: newest timestamp (now - 1), the tie going to the higher seq.
        const latest = await store.events.readLatest({ after: 0, upTo: start + 5, names: [n], limit: 10 });
        assert.deepEqual(
          latest.map((r) => [r.data, r.seq]),
          [['"b3"', start + 5]],
        );
      } finally {
        storeNow = 0;
      }
      await store.events.releaseDue(now + 100, 1000);
    });

    test('a due append behind a backlog larger than one release still releases everything in timestamp order', async () => {
      // More overdue stored events than one commit releases (PostgreSQL 1,000, SQLite 2,000): an
      // append of a due event must not jump the ones the commit leaves for later.
      const BACKLOG = 2100;
      const now = tick();
      const n = name('backlog');
      for (let k = 0; k < BACKLOG; k += 700) {
        await store.events.appendBatch({
          events: Array.from({ length: 700 }, (_, i) => ev(n, now - 50 + (k + i) * 0.01, k + i)),
        });
      }
      const start = await store.events.lastSeq();
      storeNow = now;
      try {
        // Between the backlog's 1,000th and 1,001st timestamps.
        await store.events.append(ev(n, now - 40.005, 'late'));
      } finally {
        storeNow = 0;
      }
      while ((await store.events.releaseDue(now, 1000)).length > 0);
      const released = [];
      for (let after = start; ; ) {
        const page = await store.events.readReleased({ after, names: [n], limit: 1000 });
        if (page.length === 0) break;
        released.push(...page);
        after = (page[page.length - 1] as { seq: number }).seq;
      }
      assert.equal(released.length, BACKLOG + 1, 'every event released once');
      assert.deepEqual(
        released.map((r) => r.seq),
        released.map((_, i) => start + 1 + i),
        'gapless',
      );
      const late = released.findIndex((r) => r.data === '"late"');
      assert.equal(late, 1000, 'after the 1,000 earlier ones, before the later ones');
      for (let i = 1; i < released.length; i++) {
        assert.ok((released[i - 1] as { timestamp: number }).timestamp <= (released[i] as { timestamp: number }).timestamp, `timestamp order at ${i}`);
      }
    });

    retentionContract(() => store, tick);

    appendContract(
      () => store,
      tick,
      (t) => {
        storeNow = t;
      },
    );

    userContract(
      () => store,
      (t) => {
        storeNow = t;
      },
    );

    test('ping answers while open', async () => {
      await store.ping();
    });

    test('reopen keeps users, events, releases and pending schedules', async (t) => {
      if (!factory.reopen) {
        t.skip('backend cannot reopen the same database');
        return;
      }
      const now = tick();
      const n = name('dur');
      await store.events.append(ev(n, now - 1, 'released'));
      await store.events.append(ev(n, now + 77, 'pending'));
      await store.events.releaseDue(now, 1000);
      const seq = await store.events.lastSeq();
      store = await factory.reopen(store, () => storeNow);
      store.events.onAppendRelease((released) => appendReleases.push(released.map((r) => r.seq)));
      assert.equal(await store.events.lastSeq(), seq);
      assert.equal(await store.events.nextDueAt(), now + 77);
      const h = (await store.events.history(n, { limit: 10 })) ?? [];
      assert.deepEqual(
        h.map((x) => [x.data, x.published]),
        [
          ['"released"', true],
          ['"pending"', false],
        ],
      );
      await store.events.releaseDue(now + 77, 1000);
    });
  });
}
