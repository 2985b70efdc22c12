import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newEventId } from './new-event-id.js';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('event ids are unique UUIDv7 whose first 48 bits are the creation time (ms)', () => {
  const before = Date.now();
  const ids = Array.from({ length: 10_000 }, () => newEventId());
  const after = Date.now();
  for (const id of ids) assert.match(id, V7);
  assert.equal(new Set(ids).size, ids.length, 'no duplicates (the random pool is refilled, never reused)');
  for (const id of [ids[0] as string, ids[ids.length - 1] as string]) {
    const ms = Number.parseInt(id.replace(/-/g, '').slice(0, 12), 16);
    assert.ok(ms >= before && ms <= after, `${ms} within [${before}, ${after}]`);
  }
  // Time-ordered: an id made in a later millisecond sorts after every earlier one.
  const prefix = (id: string): string => id.slice(0, 13);
  for (let i = 1; i < ids.length; i++) assert.ok(prefix(ids[i] as string) >= prefix(ids[i - 1] as string));
});
