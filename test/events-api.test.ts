import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { insert, type JsonResponse, metrics, metricValue, nowSeconds, request, signUp, until } from './helpers/api.js';
import { SseClient } from './helpers/sse-client.js';
import { expectError, unique } from './helpers/expect-error.js';
import { startBroker, type TestBroker } from './helpers/start-broker.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_TIMESTAMP = 253_402_300_799;
const BODY_LIMIT = 4096;
const EVENT_KEYS = ['cancelled', 'data', 'event', 'id', 'published', 'timestamp', 'user_id'];

interface EventView {
  readonly id: string;
  readonly user_id: string;
  readonly event: string;
  readonly timestamp: number;
  readonly published: boolean;
  readonly cancelled: boolean;
  readonly data: unknown;
}



/** Checks one event object has exactly the API's keys with the right types. */
function asEvent(value: unknown, what = ''): EventView {
  assert.ok(value !== null && typeof value === 'object' && !Array.isArray(value), `${what}: not an object`);
  const e = value as Record<string, unknown>;
  assert.deepEqual(Object.keys(e).sort(), EVENT_KEYS, what);
  assert.match(String(e.id), UUID, what);
  assert.match(String(e.user_id), UUID, what);
  assert.equal(typeof e.event, 'string', what);
  assert.equal(typeof e.timestamp, 'number', what);
  assert.equal(typeof e.published, 'boolean', what);
  assert.equal(typeof e.cancelled, 'boolean', what);
  return e as unknown as EventView;
}

function asEvents(res: JsonResponse, what = ''): EventView[] {
  assert.equal(res.status, 200, `${what}: ${res.status} ${JSON.stringify(res.body)}`);
  assert.ok(Array.isArray(res.body), `${what}: body is not an array`);
  return (res.body as unknown[]).map((e, i) => asEvent(e, `${what}[${i}]`));
}

describe('events API', () => {
  let b: TestBroker;
  let token: string;
  let userId: string;
  let other: { id: string; token: string };
  before(async () => {
    b = await startBroker({ BODY_LIMIT: String(BODY_LIMIT) });
    const me = await signUp(b.url);
    token = me.token;
    userId = me.id;
    other = await signUp(b.url);
  });
  after(() => b.close());

  const history = async (name: string, query = '', t = token): Promise<JsonResponse> =>
    request(b.url, 'GET', `/events/${encodeURIComponent(name)}${query}`, { token: t });
  const versions = async (name: string): Promise<EventView[]> => asEvents(await history(name), name);
  const insertsTotal = async (): Promise<number> =>
    metricValue(await metrics(b.url), 'broker_inserts_total');
  const post = (body: unknown, headers?: Record<string, string>): Promise<JsonResponse> =>
    request(b.url, 'POST', '/insert', { token, body, headers });
  const postRaw = (rawBody: string, contentType = 'application/json'): Promise<JsonResponse> =>
    request(b.url, 'POST', '/insert', { token, rawBody, headers: { 'content-type': contentType } });

  /** Runs bad inserts and proves they changed nothing: no insert counted, the name's history unchanged. */
  async function changesNothing(name: string, bad: () => Promise<void>): Promise<void> {
    const countBefore = await insertsTotal();
    const historyBefore = await versions(name);
    await bad();
    assert.equal(await insertsTotal(), countBefore, 'broker_inserts_total moved: something was stored');
    assert.deepEqual(await versions(name), historyBefore, `history of ${name} changed`);
  }

  describe('POST /insert', () => {
    test('returns exactly {"id": uuid}; the version appears in history with all its fields', async () => {
      const name = unique('ins');
      const timestamp = Math.floor(nowSeconds()) - 5;
      const res = await post({ event: name, timestamp, data: { name: 'Rusty' } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(Object.keys(res.body as object), ['id']);
      const id = (res.body as { id: string }).id;
      assert.match(id, UUID);
      const [found] = await until(
        () => versions(name),
        (v) => v[0]?.published === true,
        'the backdated event to be released',
      );
      assert.deepEqual(found, {
        id,
        user_id: userId,
        event: name,
        timestamp,
        published: true,
        cancelled: false,
        data: { name: 'Rusty' },
      });
    });

    test('omitted timestamp means now: stamped with the current time and released at once', async () => {
      const name = unique('now');
      const t0 = nowSeconds();
      const id = await insert(b.url, token, name, { now: true });
      const t1 = nowSeconds();
      const [found] = await until(() => versions(name), (v) => v[0]?.published === true, 'release of a now-event');
      assert.equal(found?.id, id);
      const ts = found?.timestamp ?? Number.NaN;
      assert.ok(ts >= t0 - 0.001 && ts <= t1 + 0.001, `timestamp ${ts} not within [${t0}, ${t1}]`);
    });

    test('fractional timestamps are accepted and returned unchanged', async () => {
      const name = unique('frac');
      const stamps = [0.5, 1_700_000_000.123456, 4_102_444_800.987654];
      for (const ts of stamps) await insert(b.url, token, name, { ts }, ts);
      assert.deepEqual(
        (await versions(name)).map((e) => e.timestamp),
        stamps,
      );
    });

    test('data may be any JSON value and comes back identical', async () => {
      const name = unique('data');
      const values: readonly unknown[] = [
        null,
        0,
        -1.5e-7,
        false,
        '',
        'line1\nline2\r\n\ttab "quoted" back\\slash ü € 🎉 \u2028 \u0000 end',
        { a: { b: { c: [1, { d: null }, 'x'] } }, 'key with space': true, '': 'empty key' },
        [],
        {},
        Array.from({ length: 100 }, (_, i) => ({ i })),
      ];
      const base = Math.floor(nowSeconds()) - 1000;
      for (const [i, data] of values.entries()) await insert(b.url, token, name, data, base + i);
      assert.deepEqual(
        (await versions(name)).map((e) => e.data),
        values,
      );
    });

    test('missing event or data is a 400 naming the field, and stores nothing', async () => {
      const name = unique('missing');
      await changesNothing(name, async () => {
        assert.match(expectError(await post({ data: 1 }), 400, 'invalid_input', 'no event'), /event/);
        assert.match(expectError(await post({ event: name }), 400, 'invalid_input', 'no data'), /data/);
        assert.match(
          expectError(await post({ event: name, timestamp: nowSeconds() }), 400, 'invalid_input', 'no data'),
          /data/,
        );
        expectError(await post({}), 400, 'invalid_input', 'empty object');
      });
    });

    test('wrong types are a 400 naming the field, and store nothing', async () => {
      const name = unique('types');
      const cases: readonly [unknown, RegExp][] = [
        [{ event: name, timestamp: '123', data: 1 }, /timestamp/],
        [{ event: name, timestamp: true, data: 1 }, /timestamp/],
        [{ event: name, timestamp: { s: 1 }, data: 1 }, /timestamp/],
        [{ event: name, timestamp: [1], data: 1 }, /timestamp/],
        // null is not "omitted": it is refused like any other non-number (observed; see report).
        [{ event: name, timestamp: null, data: 1 }, /timestamp/],
        [{ event: 5, data: 1 }, /event/],
        [{ event: null, data: 1 }, /event/],
        [{ event: [name], data: 1 }, /event/],
      ];
      await changesNothing(name, async () => {
        for (const [body, field] of cases) {
          assert.match(expectError(await post(body), 400, 'invalid_input', JSON.stringify(body)), field);
        }
      });
    });

    test('bad event names (empty, 257 characters, control characters) are a 400', async () => {
      const bad = [
        '',
        'x'.repeat(257),
        '🎉'.repeat(257),
        '\n',
        'a\nb',
        'a\rb',
        'a\u0000b',
        'a\u007fb',
        'a\u0085b',
        '\t',
      ];
      const countBefore = await insertsTotal();
      for (const event of bad) {
        const res = await post({ event, data: 1 });
        assert.match(expectError(res, 400, 'invalid_input', JSON.stringify(event).slice(0, 40)), /event/);
      }
      assert.equal(await insertsTotal(), countBefore, 'nothing stored');
    });

    test('event names of exactly 256 characters (also 256 emoji, 512 UTF-16 units) are accepted', async () => {
      for (const event of [`${unique('n')}`.padEnd(256, 'x'), `${'🎉'.repeat(255)}${unique('').slice(-1)}`]) {
        assert.equal([...event].length, 256);
        const res = await post({ event, data: { long: true } });
        assert.equal(res.status, 200, `${event.length} units: ${JSON.stringify(res.body)}`);
        assert.match((res.body as { id: string }).id, UUID);
      }
    });

    test('timestamp must lie within 0 … 253402300799: outside is a 400, the bounds are fine', async () => {
      const name = unique('range');
      await changesNothing(name, async () => {
        for (const timestamp of [-1, -0.001, MAX_TIMESTAMP + 1, MAX_TIMESTAMP + 0.5, 1e300]) {
          const res = await post({ event: name, timestamp, data: 1 });
          assert.match(expectError(res, 400, 'invalid_input', `timestamp ${timestamp}`), /timestamp/);
        }
        // 1e400 parses to Infinity.
        expectError(await postRaw(`{"event":"${name}","timestamp":1e400,"data":1}`), 400, 'invalid_input', '1e400');
      });
      await insert(b.url, token, name, 'epoch', 0);
      await insert(b.url, token, name, 'max', MAX_TIMESTAMP);
      assert.deepEqual(
        (await versions(name)).map((e) => [e.timestamp, e.data]),
        [
          [0, 'epoch'],
          [MAX_TIMESTAMP, 'max'],
        ],
      );
    });

    test('a body over BODY_LIMIT is a 413; exactly BODY_LIMIT bytes is accepted', async () => {
      const name = unique('big');
      const bodyOf = (bytes: number): string => {
        const shell = JSON.stringify({ event: name, timestamp: 1, data: '' });
        return shell.replace('"data":""', `"data":"${'x'.repeat(bytes - shell.length)}"`);
      };
      await changesNothing(name, async () => {
        const over = bodyOf(BODY_LIMIT + 1);
        assert.equal(Buffer.byteLength(over), BODY_LIMIT + 1);
        expectError(await postRaw(over), 413, 'payload_too_large', 'limit + 1');
        expectError(await postRaw(bodyOf(BODY_LIMIT * 4)), 413, 'payload_too_large', '4 × limit');
      });
      const exact = bodyOf(BODY_LIMIT);
      assert.equal(Buffer.byteLength(exact), BODY_LIMIT);
      const res = await postRaw(exact);
      assert.equal(res.status, 200, JSON.stringify(res.body));
    });

    test('malformed or empty JSON is a 400 invalid_json and stores nothing', async () => {
      const name = unique('malformed');
      await changesNothing(name, async () => {
        for (const raw of [`{"event":"${name}",`, `{"event":"${name}","data":}`, `{'event':'${name}'}`, '', '{"a":1}x']) {
          expectError(await postRaw(raw), 400, 'invalid_json', JSON.stringify(raw));
        }
      });
    });

    // An array is a batch (test/batch-insert.test.ts); an array of non-objects is a bad batch.
    test('a JSON body that is neither an object nor an array of them (null, string, number, [1]) is a 400', async () => {
      const name = unique('notobj');
      await changesNothing(name, async () => {
        for (const raw of ['[1]', 'null', `"${name}"`, '42', 'true']) {
          expectError(await postRaw(raw), 400, 'invalid_input', raw);
        }
      });
    });

    test('a body that is not application/json is a 415 and stores nothing', async () => {
      const name = unique('mediatype');
      const json = JSON.stringify({ event: name, data: 1 });
      await changesNothing(name, async () => {
        expectError(await postRaw(json, 'application/x-www-form-urlencoded'), 415, 'unsupported_media_type', 'form');
        expectError(await postRaw(json, 'application/xml'), 415, 'unsupported_media_type', 'xml');
        expectError(await postRaw(json, 'text/plain'), 415, 'unsupported_media_type', 'text/plain');
      });
    });

    test('prototype poisoning ("__proto__", "constructor.prototype") is a 400 and stores nothing', async () => {
      const name = unique('proto');
      await changesNothing(name, async () => {
        for (const raw of [
          `{"event":"${name}","data":1,"__proto__":{"polluted":true}}`,
          `{"event":"${name}","data":{"__proto__":{"polluted":true}}}`,
          `{"event":"${name}","data":{"constructor":{"prototype":{"polluted":true}}}}`,
        ]) {
          expectError(await postRaw(raw), 400, 'invalid_json', raw);
        }
      });
      // The broker runs in this process: nothing leaked into Object.prototype.
      assert.equal((Object.prototype as Record<string, unknown>).polluted, undefined);
    });
  });

  describe('GET /events/{event}', () => {
    test('requires a valid token', async () => {
      const name = unique('auth');
      await insert(b.url, token, name, 1);
      expectError(await request(b.url, 'GET', `/events/${name}`), 401, 'unauthorized', 'no token');
      expectError(await history(name, '', 'garbage'), 401, 'unauthorized', 'garbage token');
    });

    test('ascending timestamp, ties in insertion order; future and cancelled versions with the right flags', async () => {
      const name = unique('order');
      const now = Math.floor(nowSeconds());
      const future = now + 3600;
      const inserted: { id: string; label: string; ts: number }[] = [];
      const add = async (label: string, ts: number): Promise<void> => {
        inserted.push({ id: await insert(b.url, token, name, { label }, ts), label, ts });
      };
      await add('future-late', future + 100);
      await add('tie-future-1', future);
      await add('past-late', now - 10);
      await add('tie-future-2', future);
      await add('tie-past-1', now - 100);
      await add('tie-future-3', future);
      await add('tie-past-2', now - 100);
      await add('past-early', now - 1000);
      const cancelled = inserted.find((e) => e.label === 'tie-future-2');
      const cancel = await request(b.url, 'POST', `/events/${cancelled?.id}/cancel`, { token });
      assert.equal(cancel.status, 200);

      const list = await until(
        () => versions(name),
        (v) => v.filter((e) => e.published).length === 4,
        'the four past versions to be released',
      );
      assert.deepEqual(
        list.map((e) => (e.data as { label: string }).label),
        ['past-early', 'tie-past-1', 'tie-past-2', 'past-late', 'tie-future-1', 'tie-future-2', 'tie-future-3', 'future-late'],
      );
      for (const e of list) {
        const mine = inserted.find((x) => x.id === e.id);
        assert.ok(mine, `unknown id ${e.id}`);
        assert.equal(e.timestamp, mine.ts);
        assert.equal(e.event, name);
        assert.equal(e.user_id, userId);
        assert.equal(e.published, mine.ts <= now, `${mine.label} published`);
        assert.equal(e.cancelled, mine.label === 'tie-future-2', `${mine.label} cancelled`);
      }
    });

    test('unknown name: 200 with an empty array; the empty name is a 400', async () => {
      assert.deepEqual(asEvents(await history(unique('never'))), []);
      assert.match(expectError(await history(''), 400, 'invalid_input', 'GET /events/'), /event/);
    });

    test('?limit pages with X-Next-After; walking the pages returns every version once, in order', async () => {
      for (const count of [5, 4]) {
        const name = unique(`page${count}`);
        const base = nowSeconds() + 3600;
        const ids: string[] = [];
        // Inserted out of timestamp order, with a tie, so the walk must follow (timestamp, insertion).
        for (const ts of [base + 3, base + 1, base + 2, base + 1, base + 0].slice(0, count)) {
          ids.push(await insert(b.url, token, name, { ts }, ts));
        }
        const expected = (await versions(name)).map((e) => e.id);
        assert.equal(expected.length, count);
        const walked: string[] = [];
        let cursor: string | undefined;
        for (let page = 0; ; page++) {
          assert.ok(page <= count, 'the walk never ends');
          const res = await history(name, `?limit=2${cursor ? `&after=${cursor}` : ''}`);
          const items = asEvents(res, `page ${page}`);
          assert.ok(items.length <= 2, 'no page longer than limit');
          walked.push(...items.map((e) => e.id));
          const next = res.headers.get('x-next-after');
          if (next === null) break;
          assert.equal(next, items[items.length - 1]?.id, 'X-Next-After is the last id of the page');
          cursor = next;
        }
        assert.deepEqual(walked, expected, `${count} versions: each once, in order`);
        assert.deepEqual([...walked].sort(), [...ids].sort());
      }
    });

    test('a page shorter than limit has no X-Next-After header', async () => {
      const name = unique('short');
      await insert(b.url, token, name, 1, 100);
      const res = await history(name, '?limit=2');
      assert.equal(asEvents(res).length, 1);
      assert.equal(res.headers.get('x-next-after'), null);
      const full = await history(name);
      assert.equal(full.headers.get('x-next-after'), null);
    });

    test('bad limit or after is a 400', async () => {
      const name = unique('badpage');
      const id = await insert(b.url, token, name, 1, 100);
      const elsewhere = await insert(b.url, token, unique('elsewhere'), 1, 100);
      const queries = [
        '?limit=0',
        '?limit=1001',
        '?limit=abc',
        '?limit=-1',
        '?limit=1.5',
        '?limit=',
        '?limit=2&limit=3',
        `?after=00000000-0000-4000-8000-000000000000`,
        '?after=not-an-id',
        '?after=',
        `?after=${elsewhere}`,
        `?after=${id}&after=${id}`,
      ];
      for (const q of queries) {
        const message = expectError(await history(name, q), 400, 'invalid_input', q);
        assert.match(message, q.includes('limit') ? /limit/ : /after/, q);
      }
      assert.equal(asEvents(await history(name, '?limit=1000')).length, 1);
      assert.equal(asEvents(await history(name, '?limit=1')).length, 1);
    });

    test('default (and largest) page is 1000 versions', async () => {
      const name = unique('thousand');
      const total = 1001;
      const base = nowSeconds() + 3600;
      // Set-up only: 1001 inserts through Fastify's inject (same routes, auth and validation, no
      // sockets) take ~0.4 s where 1001 fetches take ~2 s. The assertions below use real HTTP.
      const inserted = await Promise.all(
        Array.from({ length: total }, (_, k) =>
          b.broker.app.inject({
            method: 'POST',
            url: '/insert',
            headers: { authorization: `Bearer ${token}` },
            payload: { event: name, data: k, timestamp: base + k },
          }),
        ),
      );
      assert.deepEqual(new Set(inserted.map((r) => r.statusCode)), new Set([200]));
      const first = await history(name);
      const page = asEvents(first);
      assert.equal(page.length, 1000);
      assert.deepEqual(
        page.map((e) => e.data),
        Array.from({ length: 1000 }, (_, i) => i),
      );
      const next = first.headers.get('x-next-after');
      assert.equal(next, page[999]?.id);
      const rest = await history(name, `?after=${next}`);
      assert.deepEqual(
        asEvents(rest).map((e) => e.data),
        [1000],
      );
      assert.equal(rest.headers.get('x-next-after'), null);
    });

    test('names with spaces, unicode, slashes and URL syntax work when URL-encoded', async () => {
      for (const name of [
        `with space ${unique('')}`,
        `ünïcödé-€-🎉-${unique('')}`,
        `a/b/${unique('c')}`,
        `x/cancel-${unique('')}`,
        `q?x=1&y=2#frag%20${unique('')}`,
        `..%2F..${unique('/')}`,
      ]) {
        const id = await insert(b.url, token, name, { name });
        const list = await versions(name);
        assert.deepEqual(
          list.map((e) => [e.id, e.event]),
          [[id, name]],
          name,
        );
      }
    });

    test('history of a long (101–256 character) name is readable', async () => {
      // 256 emoji are 256 characters, 3072 bytes once URL-encoded.
      for (const name of [unique('long').padEnd(101, 'x'), unique('long').padEnd(256, 'x'), '🎉'.repeat(256)]) {
        const length = [...name].length;
        const id = await insert(b.url, token, name, { length });
        const res = await history(name);
        assert.equal(res.status, 200, `${length} chars: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
        assert.deepEqual(
          asEvents(res).map((e) => e.id),
          [id],
        );
      }
    });
  });

  describe('GET|POST /events/{id}/cancel', () => {
    const future = (): number => nowSeconds() + 3600;

    test('GET (compatible) and POST both cancel and return the event object with cancelled: true', async () => {
      for (const method of ['GET', 'POST']) {
        const name = unique(`cancel-${method}`);
        const ts = future();
        const id = await insert(b.url, token, name, { method }, ts);
        const res = await request(b.url, method, `/events/${id}/cancel`, { token });
        assert.equal(res.status, 200, `${method}: ${JSON.stringify(res.body)}`);
        assert.deepEqual(asEvent(res.body, method), {
          id,
          user_id: userId,
          event: name,
          timestamp: ts,
          published: false,
          cancelled: true,
          data: { method },
        });
        assert.deepEqual(await versions(name), [res.body]);
      }
    });

    test('unknown id is a 404 not_found', async () => {
      for (const id of ['00000000-0000-4000-8000-000000000000', 'nope', encodeURIComponent('../x')]) {
        for (const method of ['GET', 'POST']) {
          expectError(await request(b.url, method, `/events/${id}/cancel`, { token }), 404, 'not_found', `${method} ${id}`);
        }
      }
    });

    test("someone else's event is a 403 forbidden and stays pending", async () => {
      const name = unique('theirs');
      const id = await insert(b.url, other.token, name, 1, future());
      for (const method of ['GET', 'POST']) {
        expectError(await request(b.url, method, `/events/${id}/cancel`, { token }), 403, 'forbidden', method);
      }
      assert.deepEqual(
        (await versions(name)).map((e) => [e.id, e.cancelled]),
        [[id, false]],
      );
    });

    test('an already released event is a 409 already_released', async () => {
      const name = unique('released');
      const id = await insert(b.url, token, name, 1, nowSeconds() - 60);
      await until(() => versions(name), (v) => v[0]?.published === true, 'the past event to be released');
      for (const method of ['GET', 'POST']) {
        expectError(await request(b.url, method, `/events/${id}/cancel`, { token }), 409, 'already_released', method);
      }
      assert.deepEqual(
        (await versions(name)).map((e) => [e.published, e.cancelled]),
        [[true, false]],
      );
    });

    test('cancelling twice is a 409 already_cancelled', async () => {
      const id = await insert(b.url, token, unique('twice'), 1, future());
      assert.equal((await request(b.url, 'GET', `/events/${id}/cancel`, { token })).status, 200);
      for (const method of ['GET', 'POST']) {
        expectError(await request(b.url, method, `/events/${id}/cancel`, { token }), 409, 'already_cancelled', method);
      }
    });

    test('requires a valid token', async () => {
      const id = await insert(b.url, token, unique('noauth'), 1, future());
      for (const method of ['GET', 'POST']) {
        expectError(await request(b.url, method, `/events/${id}/cancel`), 401, 'unauthorized', method);
      }
    });

    test('a cancelled event is never released, even after its time has passed', async () => {
      const name = unique('never');
      const stream = await SseClient.connect(`${b.url}/events?event=${encodeURIComponent(name)}`);
      try {
        // 1 s leaves room for the insert and the cancel on a busy machine.
        const due = nowSeconds() + 1;
        const cancelledId = await insert(b.url, token, name, { cancelled: true }, due);
        assert.equal((await request(b.url, 'POST', `/events/${cancelledId}/cancel`, { token })).status, 200);
        const laterId = await insert(b.url, token, name, { later: true }, due + 0.2);
        // Once the later one is released, the cancelled one's time has passed too.
        await stream.waitForEvents(1, 5000);
        const list = await versions(name);
        assert.deepEqual(
          list.map((e) => [e.id, e.published, e.cancelled]),
          [
            [cancelledId, false, true],
            [laterId, true, false],
          ],
        );
        assert.deepEqual(
          stream.events.map((f) => JSON.parse(f.data ?? '') as unknown),
          [{ later: true }],
        );
      } finally {
        stream.close();
      }
    });
  });
});
