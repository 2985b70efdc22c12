import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { AccessPolicy } from './access-policy.js';
import { ANONYMOUS, userCaller } from './caller.js';
import { loadRules } from './load-rules.js';
import { compileRules, RulesError } from './rules.js';

const example = {
  rules: [
    { names: 'private.{user}.>', read: 'owner', write: 'owner' },
    { names: 'news.>', read: 'public', write: 'role:editor' },
    { names: 'ops.*', read: 'role:admin', write: 'role:admin' },
    { names: 'staff.*', read: ['role:staff', 'role:mod'], write: 'none' },
    { names: 'room.{user}', read: ['user'], write: ['owner', 'role:mod'] },
    { names: 'shared.>', read: 'user', write: 'user' },
  ],
};

describe('access rules', () => {
  const policy = new AccessPolicy(compileRules(example));
  const alice = userCaller('alice', []);
  const bob = userCaller('bob', ['editor']);
  const admin = userCaller('root', ['admin']);
  const mod = userCaller('m', ['mod', 'staff']);

  test('first match wins; {user} binds the owner whoever asks', () => {
    assert.equal(policy.may(alice, 'read', 'private.alice.notes'), true);
    assert.equal(policy.may(alice, 'write', 'private.alice.notes'), true);
    assert.equal(policy.may(bob, 'read', 'private.alice.notes'), false, "someone else's private name");
    assert.equal(policy.may(ANONYMOUS, 'read', 'private.alice.notes'), false);
    assert.equal(policy.may(admin, 'read', 'private.alice.notes'), true, 'admins read every name');
  });

  test('public, user, role and none', () => {
    assert.equal(policy.may(ANONYMOUS, 'read', 'news.today'), true);
    assert.equal(policy.may(alice, 'write', 'news.today'), false);
    assert.equal(policy.may(bob, 'write', 'news.today'), true);
    assert.equal(policy.may(alice, 'read', 'ops.cpu'), false);
    assert.equal(policy.may(admin, 'write', 'ops.cpu'), true);
    assert.equal(policy.may(mod, 'write', 'staff.x'), false, 'none');
    assert.equal(policy.may(admin, 'write', 'staff.x'), true, 'admins write even "none" names');
    assert.equal(policy.may(mod, 'read', 'staff.x'), true);
    assert.equal(policy.may(ANONYMOUS, 'read', 'shared.a'), false, 'user needs a token');
    assert.equal(policy.may(alice, 'read', 'shared.a'), true);
  });

  test('lists mean any of them', () => {
    assert.equal(policy.may(alice, 'write', 'room.alice'), true, 'owner');
    assert.equal(policy.may(bob, 'write', 'room.alice'), false);
    assert.equal(policy.may(mod, 'write', 'room.alice'), true, 'role:mod');
  });

  test('a name no rule matches can be neither read nor written, except by admins', () => {
    assert.equal(policy.access('elsewhere'), undefined);
    assert.equal(policy.may(ANONYMOUS, 'read', 'elsewhere'), false);
    assert.equal(policy.may(alice, 'write', 'elsewhere'), false);
    assert.equal(policy.may(admin, 'write', 'elsewhere'), true);
  });

  test('the default rules: everything public to read, any user writes', () => {
    const open = new AccessPolicy(loadRules(undefined));
    assert.equal(open.allPublicRead, true);
    assert.equal(open.may(ANONYMOUS, 'read', 'x.y'), true);
    assert.equal(open.may(ANONYMOUS, 'write', 'x.y'), false);
    assert.equal(open.may(alice, 'write', 'x.y'), true);
    assert.equal(policy.allPublicRead, false);
    assert.equal(compileRules({ rules: [{ names: 'a.>', read: 'public', write: 'user' }] }).allPublicRead, false);
    assert.equal(
      compileRules({ rules: [{ names: 'a.>', read: ['public'], write: 'user' }, { names: '>', read: 'public', write: 'none' }] })
        .allPublicRead,
      true,
    );
  });

  test('keep: per rule, found with the name', () => {
    const p = new AccessPolicy(
      compileRules({ rules: [{ names: 'log.>', read: 'public', write: 'user', keep: { versions: 10, days: 0.5 } }, { names: '>', read: 'public', write: 'user' }] }),
    );
    assert.equal(p.rules.retains, true);
    assert.deepEqual(p.access('log.a')?.keep, { versions: 10, days: 0.5 });
    assert.equal(p.access('other')?.keep, undefined);
    assert.equal(new AccessPolicy(loadRules(undefined)).rules.retains, false);
  });

  test('replace swaps the rules for the next question', () => {
    const p = new AccessPolicy(compileRules({ rules: [{ names: '>', read: 'public', write: 'user' }] }));
    assert.equal(p.may(ANONYMOUS, 'read', 'a'), true);
    p.replace(compileRules({ rules: [{ names: '>', read: 'user', write: 'user' }] }));
    assert.equal(p.may(ANONYMOUS, 'read', 'a'), false);
  });

  test('invalid documents name the rule and the problem', () => {
    const bad = (doc: unknown, pattern: RegExp) => assert.throws(() => compileRules(doc), (e: unknown) => e instanceof RulesError && pattern.test(e.message));
    const r = (rule: Record<string, unknown>) => ({ rules: [rule] });
    bad([], /JSON object/);
    bad({}, /must be a list/);
    bad({ rules: [] }, /empty/);
    bad({ rules: [], extra: 1 }, /unknown key "extra"/);
    bad(r({ names: '>', read: 'everyone', write: 'user' }), /rule 1 \(">"\): "read" has the unknown permission "everyone"/);
    bad(r({ names: '>', read: 'public' }), /rule 1 has no "write"/);
    bad(r({ names: '>', read: 'public', write: 'user', keep: 1 }), /"keep" must be an object/);
    bad(r({ names: '>', read: 'public', write: 'user', keep: {} }), /needs versions, days or both/);
    bad(r({ names: '>', read: 'public', write: 'user', keep: { versions: 0 } }), /keep.versions/);
    bad(r({ names: '>', read: 'public', write: 'user', keep: { versions: 1.5 } }), /keep.versions/);
    bad(r({ names: '>', read: 'public', write: 'user', keep: { days: -1 } }), /keep.days/);
    bad(r({ names: '>', read: 'public', write: 'user', keep: { weeks: 2 } }), /unknown key "weeks"/);
    bad(r({ names: '>', read: 'public', write: 'user', size: 1 }), /unknown key "size"/);
    bad(r({ names: 'a.>.b', read: 'public', write: 'user' }), /rule 1 \("a\.>\.b"\): the pattern may use ">" only as its last segment/);
    bad(r({ names: 'a.*', read: 'owner', write: 'user' }), /owner, but the pattern has no \{user\}/);
    bad(r({ names: 'a', read: 'public', write: 'public' }), /cannot be public/);
    bad(r({ names: 'a', read: ['none', 'user'], write: 'user' }), /combines "none"/);
    bad(r({ names: 'a', read: [], write: 'user' }), /empty list/);
    bad(r({ names: 'a', read: 'role:', write: 'user' }), /role must not be empty/);
    bad(r({ names: 'a', read: 'role:bad role', write: 'user' }), /only letters/);
    bad(r({ names: 'a', read: 7, write: 'user' }), /a permission is a string/);
    bad(r({ names: 5, read: 'public', write: 'user' }), /"names" must be a string/);
    bad(
      { rules: [{ names: '>', read: 'public', write: 'user' }, { names: 'news.>', read: 'public', write: 'none' }] },
      /rule 2 \("news\.>"\) can never match: rule 1 \(">"\) comes first/,
    );
    bad(
      { rules: [{ names: 'a.*', read: 'public', write: 'user' }, { names: 'a.{user}', read: 'owner', write: 'owner' }] },
      /rule 2 .* can never match/,
    );
  });

  test('loadRules: a file, with its name in every message', () => {
    const dir = mkdtempSync(join(tmpdir(), 'broker-rules-'));
    try {
      const path = join(dir, 'rules.json');
      writeFileSync(path, JSON.stringify(example));
      assert.equal(loadRules(path).rules.length, example.rules.length);
      writeFileSync(path, '{"rules": [');
      assert.throws(() => loadRules(path), new RegExp(`${path} is not valid JSON`));
      writeFileSync(path, JSON.stringify({ rules: [{ names: '>', read: 'x', write: 'user' }] }));
      assert.throws(() => loadRules(path), new RegExp(`${path}: rule 1`));
      assert.throws(() => loadRules(join(dir, 'missing.json')), /no such file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
