import { test } from 'node:test';
import { createTestDatabase, postgresSkip } from '../../../test/helpers/postgres.js';
import { dumpContract } from '../contract/dump-contract.js';
import { PostgresDumpReader, PostgresDumpWriter } from './postgres-dump.js';
import { PostgresStore } from './postgres-store.js';

const skip = postgresSkip();
if (skip) {
  test('Dump contract: PostgreSQL', { skip }, () => {});
} else {
  dumpContract('PostgreSQL', async () => {
    const db = await createTestDatabase();
    return {
      store: (now) => PostgresStore.open(db.url, now),
      reader: () => PostgresDumpReader.open(db.url),
      writer: () => PostgresDumpWriter.open(db.url),
      cleanup: () => db.drop(),
    };
  });
}
