import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import type { Store } from '../store.js';

/**
 * Users, sessions and the auth change log: the part of the store contract that access control
 * rests on. Runs inside storeContract's suite, on its store; `setNow` moves the store's clock.
 */
export function userContract(store: () => Store, setNow: (epochSeconds: number) => void): void {
  const unique = (label: string): string => `${label}-${randomUUID().slice(0, 8)}`;
  const newUser = async (roles: string[] = [], username = unique('user')) => {
    const user = { id: randomUUID(), username, passwordHash: 'h', info: '{}', roles };
    assert.equal(await store().users.createUser(user), 'created');
    return user;
  };

  test('users: roles, disabled and generation; found by id; changes bump the generation and are logged', async () => {
    const u = await newUser(['editor']);
    const found = await store().users.findUserById(u.id);
    assert.deepEqual(found && { roles: found.roles, disabled: found.disabled, gen: found.gen }, { roles: ['editor'], disabled: false, gen: 0 });
    assert.equal(await store().users.findUserById(randomUUID()), undefined);

    const info = await store().users.updateUser(u.id, { info: '{"a":1}' });
    assert.ok(info.kind === 'updated');
    assert.equal(info.user.info, '{"a":1}');
    assert.equal(info.user.gen, 0, 'info changes revoke nothing');
    assert.equal(info.change, undefined);

    const same = await store().users.updateUser(u.id, { roles: ['editor'] });
    assert.ok(same.kind === 'updated' && same.change === undefined, 'the same roles again revoke nothing');

    const roles = await store().users.updateUser(u.id, { roles: ['editor', 'mod'] });
    assert.ok(roles.kind === 'updated' && roles.change);
    assert.equal(roles.user.gen, 1);
    assert.deepEqual({ userId: roles.change.userId, gen: roles.change.gen }, { userId: u.id, gen: 1 });

    const disabled = await store().users.updateUser(u.id, { disabled: true });
    assert.ok(disabled.kind === 'updated' && disabled.change?.gen === 2);
    const enabled = await store().users.updateUser(u.id, { disabled: false });
    assert.ok(enabled.kind === 'updated' && enabled.change === undefined, 'enabling revokes nothing');
    const password = await store().users.updateUser(u.id, { passwordHash: 'h2' });
    assert.ok(password.kind === 'updated' && password.change?.gen === 3);
    assert.equal((await store().users.findUserById(u.id))?.passwordHash, 'h2');
    assert.deepEqual(await store().users.updateUser(randomUUID(), { info: '1' }), { kind: 'not_found' });

    const log = await store().sessions.readChanges({ after: (roles.change.id) - 1, limit: 10 });
    assert.deepEqual(
      log.filter((c) => c.userId === u.id).map((c) => c.gen),
      [1, 2, 3],
      'logged in order',
    );
  });

  test('users: the last enabled admin can be neither demoted, disabled nor deleted', async () => {
    // Every admin the other cases made is demoted first, so this case decides the count.
    const admins: string[] = [];
    for (let after: string | undefined; ; ) {
      const page = (await store().users.listUsers({ after, limit: 100 })) ?? [];
      for (const u of page) if (u.roles.includes('admin') && !u.disabled) admins.push(u.id);
      if (page.length < 100) break;
      after = page[page.length - 1]?.id;
    }
    const a = await newUser(['admin']);
    const b = await newUser(['admin', 'x']);
    for (const id of admins) assert.equal((await store().users.updateUser(id, { roles: [] })).kind, 'updated');
    assert.equal((await store().users.updateUser(a.id, { roles: [] })).kind, 'updated', 'b is still an admin');
    assert.deepEqual(await store().users.updateUser(b.id, { roles: ['x'] }), { kind: 'last_admin' });
    assert.deepEqual(await store().users.updateUser(b.id, { disabled: true }), { kind: 'last_admin' });
    assert.deepEqual(await store().users.deleteUser(b.id), { kind: 'last_admin' });
    assert.equal((await store().users.updateUser(b.id, { roles: ['admin'] })).kind, 'updated', 'keeping admin is fine');
    assert.equal((await store().users.updateUser(a.id, { roles: ['admin'] })).kind, 'updated');
    const gone = await store().users.deleteUser(b.id);
    assert.ok(gone.kind === 'deleted');
    assert.equal(gone.change.userId, b.id);
    assert.equal(gone.change.gen, 2, 'one past its last generation (1, after the roles change)');
    assert.equal(await store().users.findUserById(b.id), undefined);
    assert.deepEqual(await store().users.deleteUser(b.id), { kind: 'not_found' });
  });

  test('users: listed in case-folded name order, searched by part of the name, paged by id', async () => {
    const tag = unique('ListTag').toLowerCase();
    const names = ['b', 'A', 'c_', 'd%'].map((x) => `${tag}-${x}`);
    for (const n of names) await newUser([], n);
    const all = (await store().users.listUsers({ search: tag.toUpperCase(), limit: 10 })) ?? [];
    assert.deepEqual(
      all.map((u) => u.username),
      [`${tag}-A`, `${tag}-b`, `${tag}-c_`, `${tag}-d%`],
    );
    const first = (await store().users.listUsers({ search: tag, limit: 2 })) ?? [];
    const second = (await store().users.listUsers({ search: tag, limit: 2, after: first[1]?.id })) ?? [];
    assert.deepEqual([...first, ...second].map((u) => u.username), all.map((u) => u.username));
    assert.deepEqual(
      ((await store().users.listUsers({ search: `${tag}-c_`, limit: 10 })) ?? []).map((u) => u.username),
      [`${tag}-c_`],
    );
    assert.deepEqual(((await store().users.listUsers({ search: '%', limit: 10 })) ?? []).length, 1, '% is literal');
    assert.equal(await store().users.listUsers({ after: randomUUID(), limit: 10 }), undefined);
  });

  test('sessions: a refresh token rotates once; a reused one ends its session and is logged', async () => {
    const u = await newUser();
    const sid = randomUUID();
    await store().sessions.create({ id: sid, userId: u.id, refreshHash: `h0-${sid}`, refreshExpiresAt: 1e12 });
    const rotated = await store().sessions.rotate(`h0-${sid}`, { hash: `h1-${sid}`, expiresAt: 1e12 });
    assert.ok(rotated.kind === 'rotated');
    assert.equal(rotated.sessionId, sid);
    assert.equal(rotated.user.id, u.id);
    // Two uses of the next token at once: exactly one rotates, the other is a reuse.
    const both = await Promise.all([
      store().sessions.rotate(`h1-${sid}`, { hash: `h2a-${sid}`, expiresAt: 1e12 }),
      store().sessions.rotate(`h1-${sid}`, { hash: `h2b-${sid}`, expiresAt: 1e12 }),
    ]);
    assert.deepEqual(both.map((r) => r.kind).sort(), ['reused', 'rotated']);
    const reuse = both.find((r) => r.kind === 'reused');
    assert.ok(reuse?.kind === 'reused' && reuse.change?.sessionId === sid && reuse.change.userId === u.id);
    // The session is over: even the newest token is refused now.
    for (const hash of [`h2a-${sid}`, `h2b-${sid}`]) {
      const r = await store().sessions.rotate(hash, { hash: randomUUID(), expiresAt: 1e12 });
      assert.ok(r.kind === 'refused' || r.kind === 'reused');
      assert.ok(r.kind !== 'reused' || r.change === undefined, 'ended once, logged once');
    }
    assert.equal((await store().sessions.rotate('no-such-hash', { hash: randomUUID(), expiresAt: 1e12 })).kind, 'refused');
  });

  test('sessions: expired tokens, disabled users and logged-out sessions are refused; revoke logs once', async () => {
    const u = await newUser();
    const sid = randomUUID();
    await store().sessions.create({ id: sid, userId: u.id, refreshHash: `e0-${sid}`, refreshExpiresAt: 50 });
    setNow(60);
    try {
      const expired = await store().sessions.rotate(`e0-${sid}`, { hash: randomUUID(), expiresAt: 1e12 });
      assert.ok(expired.kind === 'refused' && /expired/.test(expired.reason));
    } finally {
      setNow(0);
    }
    const s2 = randomUUID();
    await store().sessions.create({ id: s2, userId: u.id, refreshHash: `d0-${s2}`, refreshExpiresAt: 1e12 });
    await store().users.updateUser(u.id, { disabled: true });
    const disabled = await store().sessions.rotate(`d0-${s2}`, { hash: randomUUID(), expiresAt: 1e12 });
    assert.equal(disabled.kind, 'refused', 'disabling ends every session');
    await store().users.updateUser(u.id, { disabled: false });

    const s3 = randomUUID();
    await store().sessions.create({ id: s3, userId: u.id, refreshHash: `l0-${s3}`, refreshExpiresAt: 1e12 });
    assert.equal(await store().sessions.revoke(s3, randomUUID()), undefined, "another user's session is not theirs to end");
    const change = await store().sessions.revoke(s3, u.id);
    assert.deepEqual(change && { userId: change.userId, sessionId: change.sessionId }, { userId: u.id, sessionId: s3 });
    assert.equal(await store().sessions.revoke(s3, u.id), undefined, 'already over');
    const after = await store().sessions.rotate(`l0-${s3}`, { hash: randomUUID(), expiresAt: 1e12 });
    assert.ok(after.kind === 'refused' && /ended/.test(after.reason));
  });

  test('auth change log: read after a position, since a time; prune drops old entries and expired tokens', async () => {
    const u = await newUser();
    const sid = randomUUID();
    await store().sessions.create({ id: sid, userId: u.id, refreshHash: `p0-${sid}`, refreshExpiresAt: 1e12 });
    setNow(1000);
    const early = await store().sessions.revoke(sid, u.id);
    setNow(2000);
    const late = await store().users.updateUser(u.id, { roles: ['r'] });
    setNow(0);
    assert.ok(early && late.kind === 'updated' && late.change);
    const since = await store().sessions.readChanges({ after: early.id - 1, since: 1500, limit: 100 });
    assert.ok(since.some((c) => c.id === late.change?.id));
    assert.ok(!since.some((c) => c.id === early.id), 'older than since');
    assert.ok(late.change.id > early.id);
    await store().sessions.prune(1500);
    const left = await store().sessions.readChanges({ after: early.id - 1, limit: 100 });
    assert.ok(!left.some((c) => c.id === early.id), 'pruned');
    assert.ok(left.some((c) => c.id === late.change?.id), 'kept');
    // A new entry after pruning still gets a higher id than any before (a cursor never skips it).
    const next = await store().users.updateUser(u.id, { roles: [] });
    assert.ok(next.kind === 'updated' && next.change && next.change.id > late.change.id);
  });
}
