import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { DataMoveError } from '../data-move-error.js';
import { DUMP_SECTIONS, type DumpReader, type DumpRecord, type DumpWriter, type NumberedRecord } from '../dump.js';
import type { Seq, Store } from '../store.js';

/** A fresh, empty database of one backend, and the ways to open it. */
export interface DumpDatabase {
  /** A store on it (close it before writer(): SQLite's writer needs the database to itself). */
  store(now: () => number): Promise<Store>;
  reader(): Promise<DumpReader>;
  writer(): Promise<DumpWriter>;
  cleanup(): Promise<void>;
}

async function snapshot(reader: DumpReader): Promise<{ releaseSeq: Seq; records: DumpRecord[] }> {
  try {
    return await reader.read(async (s) => {
      const records: DumpRecord[] = [];
      for await (const page of s.records()) records.push(...page);
      return { releaseSeq: s.releaseSeq, records };
    });
  } finally {
    await reader.close();
  }
}

async function* batches(records: readonly DumpRecord[], size = 3): AsyncGenerator<NumberedRecord[]> {
  for (let i = 0; i < records.length; i += size) {
    yield records.slice(i, i + size).map((record, k) => ({ line: i + k + 2, record }));
  }
}

async function load(writer: DumpWriter, releaseSeq: Seq, records: readonly DumpRecord[]): Promise<void> {
  try {
    await writer.load(releaseSeq, batches(records));
  } finally {
    await writer.close();
  }
}

/**
 * What every backend's dump reader and writer must do alike: a snapshot of every kind of row in
 * document order, loaded into an empty database as the same rows, with the release position,
 * insertion order and sequences carried on; and refusals that leave the database as it was.
 */
export function dumpContract(backend: string, fresh: () => Promise<DumpDatabase>): void {
  describe(`Dump contract: ${backend}`, () => {
    test('a snapshot in document order loads into an empty database as the same records; the release sequence and insertion order go on', async () => {
      const a = await fresh();
      const b = await fresh();
      try {
        let now = 1_000;
        const store = await a.store(() => now);
        const ada = { id: randomUUID(), username: 'Ada', passwordHash: 'h1', info: '{"x":[1,2.5]}', roles: ['admin'] };
        const bob = { id: randomUUID(), username: 'bob', passwordHash: 'h2', info: 'null' };
        assert.equal(await store.users.createUser(ada), 'created');
        assert.equal(await store.users.createUser(bob), 'created');
        await store.users.updateUser(bob.id, { roles: ['editor'] });
        const session = randomUUID();
        await store.sessions.create({ id: session, userId: ada.id, refreshHash: 'r1', refreshExpiresAt: 9_000 });
        await store.sessions.rotate('r1', { hash: 'r2', expiresAt: 9_000 });
        const ended = randomUUID();
        await store.sessions.create({ id: ended, userId: bob.id, refreshHash: 'r3', refreshExpiresAt: 9_000 });
        await store.sessions.revoke(ended, bob.id);
        const ev = (event: string, timestamp: number, data: string) => ({ id: randomUUID(), userId: ada.id, event, timestamp, data });
        const tieA = ev('tie', 2_000, '"a"');
        const tieB = ev('tie', 2_000, '"b"');
        for (const e of [ev('x', 1_500, '1'), tieA, tieB, ev('x', 1_600, '2')]) await store.events.append(e);
        const pending = ev('later', 5_000, '{"p":1}');
        await store.events.append(pending);
        const gone = ev('later', 6_000, '0');
        await store.events.append(gone);
        assert.equal((await store.events.cancel(gone.id, ada.id)).kind, 'cancelled');
        now = 3_000;
        assert.equal((await store.events.releaseDue(now, 100)).length, 4);
        await store.close();

        const first = await snapshot(await a.reader());
        assert.equal(first.releaseSeq, 4);
        const types = first.records.map((r) => r.type);
        assert.deepEqual([...new Set(types)], [...DUMP_SECTIONS], 'every section, in order');
        assert.deepEqual(
          types.map((t) => DUMP_SECTIONS.indexOf(t)),
          [...types.map((t) => DUMP_SECTIONS.indexOf(t))].sort((x, y) => x - y),
          'each section whole',
        );
        const events = first.records.filter((r) => r.type === 'event');
        assert.deepEqual(
          events.map((e) => e.id),
          [events[0]?.id, tieA.id, tieB.id, events[3]?.id, pending.id, gone.id],
          'events in insertion order',
        );

        await load(await b.writer(), first.releaseSeq, first.records);
        const second = await snapshot(await b.reader());
        assert.deepEqual(second, first, 'the same records and release position');

        let later = 5_500;
        const moved = await b.store(() => later);
        try {
          assert.equal(await moved.events.lastSeq(), 4);
          const released = await moved.events.releaseDue(later, 100);
          assert.deepEqual(released.map((r) => [r.id, r.seq]), [[pending.id, 5]], 'the pending event is released with the next seq');
          const after = await moved.events.append(ev('y', 1, '3'));
          assert.equal(after.seq, 6, 'an insert after the import is released next');
          const history = await moved.events.history('tie', { limit: 10 });
          assert.deepEqual(history?.map((e) => e.id), [tieA.id, tieB.id], 'ties stay in insertion order');
          later = 5_600;
          const change = await moved.sessions.revoke(session, ada.id);
          const max = Math.max(...first.records.filter((r) => r.type === 'auth_change').map((r) => r.id));
          assert.ok(change !== undefined && change.id > max, 'the auth change log goes on after the imported ids');
          const rotated = await moved.sessions.rotate('r2', { hash: 'r4', expiresAt: 9_000 });
          assert.equal(rotated.kind, 'refused', 'and the session it ends was imported');
        } finally {
          await moved.close();
        }
      } finally {
        await a.cleanup();
        await b.cleanup();
      }
    });

    test('a snapshot does not see what is written while it is read', async () => {
      const db = await fresh();
      try {
        let now = 10;
        const store = await db.store(() => now);
        const userId = randomUUID();
        for (let i = 0; i < 600; i++) await store.events.append({ id: randomUUID(), userId, event: 'n', timestamp: 5, data: String(i) });
        const reader = await db.reader();
        try {
          const seen = await reader.read(async (s) => {
            let count = 0;
            for await (const page of s.records()) {
              if (count === 0) {
                now = 20;
                await store.events.append({ id: randomUUID(), userId, event: 'n', timestamp: 5, data: '"late"' });
              }
              count += page.filter((r) => r.type === 'event').length;
            }
            return { count, releaseSeq: s.releaseSeq };
          });
          assert.deepEqual(seen, { count: 600, releaseSeq: 600 });
        } finally {
          await reader.close();
          await store.close();
        }
      } finally {
        await db.cleanup();
      }
    });

    test('a load refuses a database that is not empty, and one the records cannot go into, changing nothing', async () => {
      const full = await fresh();
      const empty = await fresh();
      try {
        const store = await full.store(() => 1);
        await store.users.createUser({ id: randomUUID(), username: 'x', passwordHash: 'h', info: '{}' });
        await store.close();
        const user = (id: string, username: string): DumpRecord => ({
          type: 'user',
          id,
          username,
          passwordHash: 'h',
          info: '{}',
          roles: [],
          disabled: false,
          gen: 0,
          createdAt: 1,
        });
        await assert.rejects(
          (async () => load(await full.writer(), 0, [user('u1', 'a')]))(),
          (e: unknown) => e instanceof DataMoveError && !e.badInput && /not empty \(it holds 1 users and 0 events\)/.test(e.message),
        );
        // Seven users, the last one a case-insensitive twin of the first: refused at its line, after
        // earlier batches went in; nothing stays.
        const records = ['a', 'b', 'c', 'd', 'e', 'f', 'A'].map((n, i) => user(`u${i}`, n));
        await assert.rejects(
          (async () => load(await empty.writer(), 0, records))(),
          (e: unknown) => e instanceof DataMoveError && e.badInput && /^line 8: the database refused this user/.test(e.message),
        );
        const after = await snapshot(
          await empty.reader().catch((e: unknown) => {
            if (e instanceof DataMoveError && /there is no database/.test(e.message)) return emptyReader();
            throw e;
          }),
        );
        assert.deepEqual(after.records, [], 'nothing was committed');
      } finally {
        await full.cleanup();
        await empty.cleanup();
      }
    });
  });
}

/** A database a failed first import left without any file (SQLite) reads as empty. */
function emptyReader(): DumpReader {
  return {
    read: (consume) =>
      consume({
        releaseSeq: 0,
        records: async function* () {},
      }),
    close: async () => {},
  };
}
