import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import postgres from 'postgres';
import { createTestDatabase, postgresSkip, type TestDatabase } from '../../../test/helpers/postgres.js';
import { AppError } from '../../errors/app-error.js';
import { storeContract } from '../contract/store-contract.js';
import type { NewEvent, Store } from '../store.js';
import { PostgresStore } from './postgres-store.js';

const skip = postgresSkip();
if (skip) {
  test('Store contract: PostgreSQL', { skip }, () => {});
} else {
  let db: TestDatabase | undefined;
  storeContract('PostgreSQL', {
    create: async (now) => {
      db = await createTestDatabase();
      return PostgresStore.open(db.url, now);
    },
    reopen: async (store: Store, now) => {
      await store.close();
      return PostgresStore.open((db as TestDatabase).url, now);
    },
    cleanup: async () => db?.drop(),
  });

  describe('PostgreSQL group commits: their own connection', () => {
    let own: TestDatabase;
    let store: PostgresStore;
    let admin: postgres.Sql;
    const ev = (event: string): NewEvent => ({ id: randomUUID(), userId: 'u', event, timestamp: 0, data: '{}' });
    const appendBackends = async (): Promise<number[]> =>
      (
        await admin<{ pid: number }[]>`
          SELECT pid FROM pg_stat_activity WHERE datname = ${own.name} AND application_name = 'broker-append'`
      ).map((r) => r.pid);

    before(async () => {
      own = await createTestDatabase();
      store = await PostgresStore.open(own.url, () => 1);
      admin = postgres(own.url, { max: 1, onnotice: () => {} });
    });
    after(async () => {
      await store.close();
      await admin.end({ timeout: 5 });
      await own.drop();
    });

    test('concurrent inserts of one node commit through one backend, every one stored once, seqs gapless', async () => {
      const events = Array.from({ length: 200 }, () => ev('one-backend'));
      const stored = await Promise.all(events.map((e) => store.events.append(e)));
      assert.deepEqual(stored.map((s) => s.id), events.map((e) => e.id));
      const seqs = stored.map((s) => s.seq as number).sort((a, b) => a - b);
      assert.deepEqual(seqs, Array.from({ length: 200 }, (_, i) => (seqs[0] as number) + i));
      assert.equal((await appendBackends()).length, 1);
      const [row] = await admin<{ n: string }[]>`SELECT count(*) AS n FROM events WHERE event = 'one-backend'`;
      assert.equal(Number(row?.n), 200);
    });

    // Without a new client the insert after an ECONNRESET can wait forever (porsager/postgres#1130).
    test('a lost group-commit connection is opened again for the next insert', { timeout: 20_000 }, async () => {
      await store.events.append(ev('reconnect'));
      const [pid] = await appendBackends();
      assert.ok(pid !== undefined, 'the group-commit connection is open');
      await admin`SELECT pg_terminate_backend(${pid}::int)`;
      // The insert that finds the connection gone may answer 503 (as on a lost pooled connection;
      // clients retry those with their idempotency key); the one after it goes through a new one.
      try {
        await store.events.append(ev('reconnect'));
      } catch (error) {
        assert.ok(error instanceof AppError && error.code === 'unavailable', String(error));
      }
      const stored = await store.events.append(ev('reconnect'));
      assert.equal(stored.published, true);
      const now = await appendBackends();
      assert.equal(now.length, 1);
      assert.notEqual(now[0], pid);
    });
  });
}
