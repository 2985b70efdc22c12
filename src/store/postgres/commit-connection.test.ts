import assert from 'node:assert/strict';
import { test } from 'node:test';
import postgres from 'postgres';
import { postgresSkip, testDatabaseUrl } from '../../../test/helpers/postgres.js';
import { CommitConnection } from './commit-connection.js';

const skip = postgresSkip();

test('a client that could not connect is replaced: the next call connects again', { skip, timeout: 20_000 }, async () => {
  // The first client points at a closed port (refused at once), every later one at the server.
  const refused = new URL(testDatabaseUrl ?? 'postgres://127.0.0.1');
  refused.port = '1';
  let opened = 0;
  const commits = new CommitConnection(() =>
    postgres(opened++ === 0 ? refused.toString() : (testDatabaseUrl as string), { max: 1, onnotice: () => {}, connect_timeout: 5 }),
  );
  try {
    await assert.rejects(commits.connected(), (error: unknown) => (error as { code?: unknown }).code === 'ECONNREFUSED');
    // The call that finds the client unconnected fails, and leaves a new client behind it.
    await assert.rejects(commits.run((sql) => sql`SELECT 1 AS one`));
    assert.equal(opened, 2);
    const [row] = await commits.run((sql) => sql<{ one: number }[]>`SELECT 1 AS one`);
    assert.equal(row?.one, 1);
    assert.equal(opened, 2);
  } finally {
    await commits.end(1);
  }
});
