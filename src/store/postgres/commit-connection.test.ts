import assert from 'node:assert/strict';
import { test } from 'node:test';
import postgres from 'postgres';
import { createTestDatabase, postgresSkip, testDatabaseUrl } from '../../../test/helpers/postgres.js';
import { type ClientHooks, CommitConnection, commitClient, NODE_LISTENER } from './commit-connection.js';

const skip = postgresSkip();

/** A client as the store makes it, without its pool's options. */
const client = (url: string, hooks: ClientHooks): postgres.Sql => commitClient(url, hooks, { onnotice: () => {}, connect_timeout: 5 });

test('a client that could not connect is replaced: the call that finds it tries a new one', { skip, timeout: 20_000 }, async () => {
  // The first two clients point at a closed port (refused at once), every later one at the server.
  const refused = new URL(testDatabaseUrl ?? 'postgres://127.0.0.1');
  refused.port = '1';
  let opened = 0;
  const commits = new CommitConnection((hooks) => client(opened++ < 2 ? refused.toString() : (testDatabaseUrl as string), hooks));
  try {
    await assert.rejects(commits.connected(), (error: unknown) => (error as { code?: unknown }).code === 'ECONNREFUSED');
    // The call that finds the client unconnected tries a new one; that one is refused too: the
    // call fails with its error and leaves a third client behind it.
    await assert.rejects(commits.run((sql) => sql`SELECT 1 AS one`), (error: unknown) => (error as { code?: unknown }).code === 'ECONNREFUSED');
    assert.equal(opened, 3);
    const [row] = await commits.run((sql) => sql<{ one: number }[]>`SELECT 1 AS one`);
    assert.equal(row?.one, 1);
    assert.equal(opened, 3);
  } finally {
    await commits.end(1);
  }
});

test('LISTEN on the commit connection: notifications arrive, and again after the connection is lost, with no call in between', { skip, timeout: 30_000 }, async () => {
  const db = await createTestDatabase();
  const admin = postgres(db.url, { max: 1, onnotice: () => {} });
  const commits = new CommitConnection((hooks) => client(db.url, hooks));
  try {
    const heard: string[] = [];
    let listens = 0;
    await commits.listen({ test_channel: (payload) => heard.push(payload) }, () => (listens += 1));
    assert.equal(listens, 1);
    const backends = async (): Promise<number[]> =>
      (await admin<{ pid: number }[]>`SELECT pid FROM pg_stat_activity WHERE datname = ${db.name} AND application_name = ${NODE_LISTENER}`).map(
        (r) => r.pid,
      );
    const [pid] = await backends();
    assert.ok(pid !== undefined, 'the listening connection is named for an import to see');
    // Sent by this connection's own commit, and by another.
    await commits.run((sql) => sql`SELECT pg_notify('test_channel', 'own')`);
    await admin`SELECT pg_notify('test_channel', 'other')`;
    await waitFor(() => heard.length === 2, 'both notifications');
    assert.deepEqual(heard.sort(), ['other', 'own']);

    await admin`SELECT pg_terminate_backend(${pid}::int)`;
    await waitFor(() => listens === 2, 'LISTEN again after the connection was lost');
    const [again] = await backends();
    assert.ok(again !== undefined && again !== pid);
    await admin`SELECT pg_notify('test_channel', 'after')`;
    await waitFor(() => heard.includes('after'), 'a notification on the new connection');
  } finally {
    await commits.end(1);
    await admin.end({ timeout: 5 });
    await db.drop();
  }
});

async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
