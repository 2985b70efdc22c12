import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { covers, matchPattern, PatternError, parsePattern, unmatchableReason } from './name-pattern.js';

const rule = (source: string) => parsePattern(source, { allowUser: true, strict: true });
const sub = (source: string) => parsePattern(source, { allowUser: false, strict: false });
const matches = (pattern: string, name: string) => matchPattern(rule(pattern), name) !== undefined;

describe('name patterns', () => {
  test('* matches exactly one segment, > one or more trailing ones', () => {
    assert.equal(matches('orders.*', 'orders.1'), true);
    assert.equal(matches('orders.*', 'orders'), false);
    assert.equal(matches('orders.*', 'orders.1.2'), false);
    assert.equal(matches('orders.>', 'orders.1'), true);
    assert.equal(matches('orders.>', 'orders.1.2.3'), true);
    assert.equal(matches('orders.>', 'orders'), false);
    assert.equal(matches('>', 'anything'), true);
    assert.equal(matches('>', 'a.b.c'), true);
    assert.equal(matches('*.x', 'a.x'), true);
    assert.equal(matches('*.x', 'a.y'), false);
    assert.equal(matches('orders.*', 'ordersx.1'), false, 'a literal is a whole segment');
    assert.equal(matches('a.b', 'a.b'), true);
    assert.equal(matches('a.b', 'a.bc'), false);
  });

  test('empty segments are segments: "a..b" has three', () => {
    assert.equal(matches('a.*.b', 'a..b'), true);
    assert.equal(matches('a.>', 'a.'), true);
    assert.equal(matches('*', ''), true);
    assert.equal(matches('a.*', 'a'), false);
  });

  test('{user} matches any one segment and binds it, whoever asks', () => {
    const p = rule('private.{user}.>');
    assert.deepEqual(matchPattern(p, 'private.u-1.notes'), { owner: 'u-1' });
    assert.deepEqual(matchPattern(p, 'private.u-2.a.b'), { owner: 'u-2' });
    assert.equal(matchPattern(p, 'private.u-1'), undefined);
    assert.equal(matchPattern(p, 'private..x'), undefined, 'no user has an empty id');
    assert.deepEqual(matchPattern(rule('inbox.{user}'), 'inbox.abc'), { owner: 'abc' });
  });

  test('malformed patterns are refused with a reason', () => {
    assert.throws(() => rule(''), PatternError);
    assert.throws(() => rule('a.>.b'), /only as its last segment/);
    assert.throws(() => rule('a.{user}.{user}'), /only once/);
    assert.throws(() => rule('orders*'), /whole segments/);
    assert.throws(() => rule('a.{owner}'), /placeholder/);
    assert.throws(() => rule('bad\nname'), /control characters/);
    assert.throws(() => sub('a.>.b'), /last segment/);
  });

  test('subscriptions take partial wildcards and {user} literally', () => {
    const p = sub('a*b.{user}');
    assert.equal(p.exact, true);
    assert.equal(matchPattern(p, 'a*b.{user}') !== undefined, true);
    assert.equal(matchPattern(p, 'axb.u1'), undefined);
    assert.equal(sub('chat.*').exact, false);
  });

  test('covers: an earlier pattern that matches every name of a later one', () => {
    assert.equal(covers(rule('>'), rule('a.b')), true);
    assert.equal(covers(rule('a.>'), rule('a.b.>')), true);
    assert.equal(covers(rule('a.>'), rule('a')), false);
    assert.equal(covers(rule('a.*'), rule('a.b')), true);
    assert.equal(covers(rule('a.*'), rule('a.{user}')), true);
    assert.equal(covers(rule('a.{user}'), rule('a.*')), true);
    assert.equal(covers(rule('a.b'), rule('a.*')), false);
    assert.equal(covers(rule('a.*'), rule('a.>')), false);
    assert.equal(covers(rule('a.*.c'), rule('a.b.c')), true);
    assert.equal(covers(rule('a.b'), rule('a.b')), true);
    assert.equal(covers(rule('x.>'), rule('y.>')), false);
  });

  test('a pattern needing names over 256 characters can never match', () => {
    assert.match(unmatchableReason(rule(`${'a'.repeat(200)}.${'b'.repeat(60)}`)) ?? '', /longer than 256/);
    assert.equal(unmatchableReason(rule(`${'a'.repeat(200)}.>`)), undefined);
  });
});
