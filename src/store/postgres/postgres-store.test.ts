import { test } from 'node:test';
import { createTestDatabase, postgresSkip, type TestDatabase } from '../../../test/helpers/postgres.js';
import { storeContract } from '../contract/store-contract.js';
import type { Store } from '../store.js';
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
}
