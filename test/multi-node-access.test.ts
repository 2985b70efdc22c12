import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { request, until } from './helpers/api.js';
import { expectError, unique } from './helpers/expect-error.js';
import { type BrokerProcess, cleanupProcesses, makeTempDir, runBroker, startBrokerProcess } from './helpers/broker-process.js';
import { createTestDatabase, postgresSkip, type TestDatabase } from './helpers/postgres.js';
import { SseClient } from './helpers/sse-client.js';

const skip = postgresSkip();
const PASSWORD = 'correct horse battery';
const RULES = {
  rules: [
    { names: 'private.{user}.>', read: 'owner', write: 'owner' },
    { names: '>', read: 'public', write: 'user' },
  ],
};

/** Access across nodes: real processes on one PostgreSQL database, each with the same rules. */
describe('access rules and revocation across nodes', { skip }, () => {
  let db: TestDatabase;
  let a: BrokerProcess;
  let b: BrokerProcess;
  let rootToken: string;

  before(async () => {
    db = await createTestDatabase();
    const dir = makeTempDir();
    const rules = join(dir, 'rules.json');
    writeFileSync(rules, JSON.stringify(RULES));
    const env = { DATABASE_URL: db.url, RULES: rules, LOG_LEVEL: 'warn' };
    [a, b] = await Promise.all([startBrokerProcess({ env }), startBrokerProcess({ env })]);
    const added = await runBroker(['users', 'add', 'root', '--role', 'admin'], { DATABASE_URL: db.url }, { input: `${PASSWORD}\n` });
    assert.equal(added.code, 0, added.stderr);
    rootToken = (await login(a, 'root')).jwt;
  });
  after(async () => {
    await cleanupProcesses();
    await db.drop();
  });

  async function login(node: BrokerProcess, username: string): Promise<{ jwt: string }> {
    const res = await request(node.url, 'POST', '/login', { body: { username, password: PASSWORD } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as { jwt: string };
  }
  async function newUser(node: BrokerProcess): Promise<{ id: string; token: string }> {
    const username = unique('n');
    const res = await request(node.url, 'POST', '/users', { body: { username, password: PASSWORD } });
    assert.equal(res.status, 200);
    return { id: (res.body as { id: string }).id, token: (await login(node, username)).jwt };
  }

  test('a user disabled through node A is refused on node B within 1 s, and their stream on B is closed', async () => {
    const u = await newUser(a);
    const stream = await SseClient.connect(`${b.url}/events`, { authorization: `Bearer ${u.token}` });
    assert.equal(stream.status, 200);
    await stream.waitFor(() => stream.frames.length >= 1, 5000, 'retry');
    assert.equal((await request(b.url, 'GET', '/me', { token: u.token })).status, 200);
    const res = await request(a.url, 'PATCH', `/admin/users/${u.id}`, { token: rootToken, body: { disabled: true } });
    assert.equal(res.status, 200);
    const disabledAt = Date.now();
    expectError(await request(a.url, 'GET', '/me', { token: u.token }), 401, 'unauthorized', 'on A, at once');
    await until(() => request(b.url, 'GET', '/me', { token: u.token }), (r) => r.status === 401, 'refused on B', 1000);
    await stream.waitForClose(1000);
    const took = Date.now() - disabledAt;
    assert.ok(took <= 1000, `B refused the token and closed the stream after ${took} ms`);
    assert.ok(stream.frames.some((f) => /token revoked/.test(f.comment ?? '')));
  });

  test('a private event inserted on A reaches its owner’s stream on B and no other', async () => {
    const owner = await newUser(a);
    const other = await newUser(b);
    const streams = {
      owner: await SseClient.connect(`${b.url}/events`, { authorization: `Bearer ${owner.token}` }),
      other: await SseClient.connect(`${b.url}/events`, { authorization: `Bearer ${other.token}` }),
      anonymous: await SseClient.connect(`${b.url}/events`),
      ownerOnA: await SseClient.connect(`${a.url}/events`, { authorization: `Bearer ${owner.token}` }),
    };
    try {
      for (const s of Object.values(streams)) await s.waitFor(() => s.frames.length >= 1, 5000, 'retry');
      const secret = `private.${owner.id}.diary`;
      assert.equal((await request(a.url, 'POST', '/insert', { token: owner.token, body: { event: secret, data: 'dear diary' } })).status, 200);
      // A public marker after it: once a stream has the marker, it would have had the secret.
      const marker = unique('public.marker');
      assert.equal((await request(a.url, 'POST', '/insert', { token: other.token, body: { event: marker, data: 1 } })).status, 200);
      for (const s of Object.values(streams)) await s.waitFor(() => s.events.some((e) => e.event === marker), 5000, 'marker');
      const got = (s: SseClient) => s.events.some((e) => e.event === secret);
      assert.equal(got(streams.owner), true, 'the owner on B');
      assert.equal(got(streams.ownerOnA), true, 'the owner on A');
      assert.equal(got(streams.other), false, 'another user on B');
      assert.equal(got(streams.anonymous), false, 'anonymous on B');
      expectError(
        await request(b.url, 'POST', '/insert', { token: other.token, body: { event: secret, data: 'forged' } }),
        403,
        'forbidden',
        "writing someone else's private name",
      );
    } finally {
      for (const s of Object.values(streams)) s.close();
    }
  });
});
