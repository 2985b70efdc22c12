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
}
