import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DataMoveError } from '../store/data-move-error.js';
import type { DumpRecord } from '../store/dump.js';
import { encodeEnd, encodeHeader, encodeRecord, zeroCounts } from './dump-format.js';
import { parseDumpLine } from './parse-dump-line.js';

const user: DumpRecord = {
  type: 'user',
  id: 'u1',
  username: 'Ada',
  passwordHash: '$2b$10$0123456789012345678901234567890123456789012345678901',
  info: '{"team":"blue","n":[1,2.5,null]}',
  roles: ['admin', 'editor'],
  disabled: false,
  gen: 3,
  createdAt: 1_800_000_000.125,
};
const event: DumpRecord = {
  type: 'event',
  id: 'e1',
  userId: 'u1',
  event: 'orders.1',
  timestamp: 1_800_000_001.5,
  data: '{"a":"x\\ny","b":1e+21}',
  insertedAt: 1_800_000_000.25,
  seq: 7,
  releasedAt: 1_800_000_001.5,
  cancelled: false,
  cancelledAt: null,
};
const records: DumpRecord[] = [
  user,
  event,
  { ...event, id: 'e2', seq: null, releasedAt: null, cancelled: true, cancelledAt: 1_800_000_000.5 },
  { type: 'latest', event: 'orders.1', seq: 7, timestamp: 1_800_000_001.5 },
  { type: 'session', id: 's1', userId: 'u1', createdAt: 1_800_000_000, endedAt: null },
  { type: 'refresh_token', hash: 'h1', sessionId: 's1', expiresAt: 1_802_592_000, spentAt: 1_800_000_100 },
  { type: 'auth_change', id: 1, at: 1_800_000_100, userId: 'u1', gen: null, sessionId: 's1' },
  { type: 'auth_change', id: 2, at: 1_800_000_200, userId: 'u1', gen: 3, sessionId: null },
];

/** The line of `record` with some fields changed (undefined removes one). */
function edited(record: DumpRecord, changes: Record<string, unknown>): string {
  const o = JSON.parse(encodeRecord(record)) as Record<string, unknown>;
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined) delete o[k];
    else o[k] = v;
  }
  return JSON.stringify(o);
}

function refused(text: string, line: number, message: RegExp): void {
  assert.throws(
    () => parseDumpLine(text, line),
    (error: unknown) => {
      assert.ok(error instanceof DataMoveError, String(error));
      assert.equal(error.badInput, true);
      assert.match(error.message, new RegExp(`^line ${line}: `));
      assert.match(error.message, message);
      return true;
    },
    text,
  );
}

describe('parseDumpLine', () => {
  test('every record, the header and the end record read back to what was written, byte for byte', () => {
    assert.deepEqual(parseDumpLine(encodeHeader({ releaseSeq: 42 }), 1), { kind: 'header', header: { releaseSeq: 42 } });
    for (const record of records) {
      const parsed = parseDumpLine(encodeRecord(record), 5);
      assert.equal(parsed.kind, 'record');
      if (parsed.kind === 'record') {
        assert.deepEqual(parsed.record, record);
        assert.equal(encodeRecord(parsed.record), encodeRecord(record));
      }
    }
    const counts = { ...zeroCounts(), user: 1, event: 2 };
    assert.deepEqual(parseDumpLine(encodeEnd(counts), 9), { kind: 'end', counts });
  });

  test('refuses malformed lines and records, naming the line and the field', () => {
    refused('{"type":"user",', 3, /is not JSON/);
    refused('[1,2]', 3, /must be a JSON object/);
    refused('{"type":"header","format":"csv","version":1,"release_seq":0}', 1, /not the header of a Broker export/);
    refused(encodeHeader({ releaseSeq: 1 }), 2, /a second header/);
    refused('{"type":"header","format":"broker-export","version":1,"release_seq":-1}', 1, /"release_seq" must be a whole number/);
    refused('{"type":"mystery"}', 4, /unknown type "mystery"/);
    refused('{"id":"x"}', 4, /lacks its "type"/);
    refused(edited(user, { extra: 1 }), 4, /unknown field "extra"/);
    refused(edited(user, { gen: undefined }), 4, /lacks the field "gen"/);
    refused(edited(user, { gen: 1.5 }), 4, /"gen" must be a whole number/);
    refused(edited(user, { roles: ['bad role'] }), 4, /"roles": role/);
    refused(edited(user, { username: '   ' }), 4, /"username"/);
    refused(edited(user, { id: 'a\u0000b' }), 4, /"id" must be well-formed Unicode without control characters/);
    refused(edited(user, { info: '{"a": 1}' }), 4, /"info" must be compact JSON text/);
    refused(edited(user, { info: '{a:1}' }), 4, /"info" must hold valid JSON text/);
    refused(edited(user, { info: { a: 1 } }), 4, /"info" must be a string holding JSON text/);
    refused(edited(user, { disabled: 'no' }), 4, /"disabled" must be true or false/);
    refused(edited(event, { timestamp: '1800000000' }), 6, /"timestamp" must be epoch seconds/);
    refused(edited(event, { timestamp: 1e300 }), 6, /"timestamp" must be epoch seconds/);
    refused(edited(event, { seq: 2 ** 53 }), 6, /"seq" must be a whole number/);
    refused(edited(event, { event: '' }), 6, /"event" must not be empty/);
    refused(edited(event, { event: 'a\nb' }), 6, /"event" must not contain control characters/);
    refused(edited(event, { data: '{"a":\n1}' }), 6, /"data" must be compact JSON text/);
    refused(edited(event, { data: `${'['.repeat(130)}${']'.repeat(130)}` }), 6, /nested deeper/);
    refused(edited(event, { released_at: null }), 6, /"seq" and "released_at" must both be set/);
    refused(edited(event, { cancelled: true }), 6, /"cancelled_at" must be set exactly when "cancelled" is true/);
    refused(edited(event, { cancelled: true, cancelled_at: 1 }), 6, /a released event cannot be cancelled/);
    refused(edited(records[6] as DumpRecord, { gen: 2 }), 7, /exactly one of "gen"/);
    refused('{"type":"end","users":1}', 8, /lacks the field "events"/);
  });

  test('a newer format version is refused as such (exit status 1: upgrade, not a broken file)', () => {
    assert.throws(
      () => parseDumpLine('{"type":"header","format":"broker-export","version":2,"release_seq":0,"more":true}', 1),
      (error: unknown) => error instanceof DataMoveError && !error.badInput && /format version 2, newer than this Broker reads \(1\)/.test(error.message),
    );
  });
});
