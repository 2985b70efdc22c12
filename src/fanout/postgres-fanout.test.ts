import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { pino } from 'pino';
import postgres from 'postgres';
import { createTestDatabase, postgresSkip, type TestDatabase, testDatabaseUrl } from '../../test/helpers/postgres.js';
import { PostgresStore } from '../store/postgres/postgres-store.js';
import { fanoutContract } from './contract/fanout-contract.js';
import { PostgresFanout } from './postgres-fanout.js';

const skip = postgresSkip();
if (skip) {
  test('Fanout contract: PostgreSQL', { skip }, () => {});
} else {
  let db: TestDatabase | undefined;
  fanoutContract('PostgreSQL', {
    nodes: async (count) => {
      db = await createTestDatabase();
      const url = db.url;
      return Promise.all(
        Array.from({ length: count }, async () => {
          const store = await PostgresStore.open(url);
          return { store, fanout: await PostgresFanout.open(store.sql, store.notifications, pino({ level: 'silent' })) };
        }),
      );
    },
    dropConnections: async () => {
      const admin = postgres(testDatabaseUrl ?? '', { max: 1, onnotice: () => {} });
      try {
        await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${db?.name ?? ''}`;
      } finally {
        await admin.end({ timeout: 5 });
      }
    },
    cleanup: async () => db?.drop(),
  });

  // A catch-up at the first LISTEN would reach the hub before it started (its cursor at 0), and
  // it would read every release of the database.
  test('a node opened on a database with releases hears of none before the next one (no catch-up at the first LISTEN)', async () => {
    const own = await createTestDatabase();
    const first = await PostgresStore.open(own.url);
    try {
      for (let i = 0; i < 3; i++) await first.events.append({ id: randomUUID(), userId: 'u', event: 'old', timestamp: 0, data: '1' });
      const second = await PostgresStore.open(own.url);
      try {
        const fanout = await PostgresFanout.open(second.sql, second.notifications, pino({ level: 'silent' }));
        const heard: number[] = [];
        fanout.onReleased((upTo) => heard.push(upTo));
        try {
          const next = await first.events.append({ id: randomUUID(), userId: 'u', event: 'new', timestamp: 0, data: '1' });
          const deadline = Date.now() + 5000;
          while (!heard.includes(next.seq as number)) {
            assert.ok(Date.now() < deadline, 'the new release is heard');
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
          assert.deepEqual(heard, [4]);
        } finally {
          await fanout.close();
        }
      } finally {
        await second.close();
      }
    } finally {
      await first.close();
      await own.drop();
    }
  });
}
