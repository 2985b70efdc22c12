import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openSqlite } from '../src/store/sqlite/open-sqlite.js';
import { request } from './helpers/api.js';
import {
  type BrokerProcess,
  cleanupProcesses,
  type LogLine,
  ObservedStream,
  startBrokerProcess,
} from './helpers/broker-process.js';

after(cleanupProcesses);

const SECRET = 'logging-test-secret-Zq8VWx3p-9d7f6e5c4b3a21';
const PASSWORD = 'Pw-logging-check-7Hq2xZ';
const WRONG_PASSWORD = 'Wrong-pw-logging-9Kd3';

interface RequestLine {
  readonly req: { readonly method?: unknown; readonly url?: unknown };
  readonly res: { readonly statusCode?: unknown };
}

function isRequestLine(l: LogLine): l is LogLine & RequestLine {
  return l.msg === 'request' && typeof l.req === 'object' && l.req !== null;
}

/**
 * One child Broker at LOG_LEVEL=info with STREAM_AUTH on. The scenario (sign-up, login, a
 * failed login, insert with a Bearer token, streams with ?access_token=, a history read that
 * fails with a 500 because the database changed under Broker) runs once; the process is then stopped so every line is flushed, and each test
 * checks one property of the whole output.
 */
describe('logs of a child Broker', () => {
  let b: BrokerProcess;
  let jwt = '';
  let forgedJwt = '';
  let streamUrl = '';
  let serverErrorStatus = 0;
  let serverErrorBody = '';

  before(async () => {
    b = await startBrokerProcess({ env: { LOG_LEVEL: 'info', STREAM_AUTH: 'true', SECRET } });
    const username = `logger-${process.pid}`;
    const created = await request(b.url, 'POST', '/users', { body: { username, password: PASSWORD, info: {} } });
    assert.equal(created.status, 200);
    const badLogin = await request(b.url, 'POST', '/login', { body: { username, password: WRONG_PASSWORD } });
    assert.equal(badLogin.status, 401);
    const login = await request(b.url, 'POST', '/login', { body: { username, password: PASSWORD } });
    assert.equal(login.status, 200);
    jwt = (login.body as { jwt: string }).jwt;
    const inserted = await request(b.url, 'POST', '/insert', {
      token: jwt,
      body: { event: 'log-check', data: { hello: 'world' } },
    });
    assert.equal(inserted.status, 200);

    // A stream authenticated by query parameter; it receives the snapshot, then the client leaves.
    streamUrl = `/events?event=log-check&access_token=${jwt}`;
    const stream = ObservedStream.open(b.url + streamUrl);
    await stream.waitFor(() => stream.events.length >= 1, 10_000, 'the snapshot frame');
    assert.equal(stream.status, 200);
    stream.destroy();
    // A refused stream: a token-shaped value that is not valid must not be logged either.
    forgedJwt = `${jwt.slice(0, -6)}AAAAAA`;
    const refused = await request(b.url, 'GET', `/events?access_token=${forgedJwt}`);
    assert.equal(refused.status, 401);

    // A 500: the events table disappears under Broker's feet (another process renames it away
    // for a moment), so reading the history fails inside the store with an error Broker did not
    // expect.
    const db = openSqlite(join(b.dir, 'broker.db'));
    try {
      db.exec('ALTER TABLE events RENAME TO events_moved_away');
      const failed = await request(b.url, 'GET', '/events/log-check', { token: jwt });
      serverErrorStatus = failed.status;
      serverErrorBody = JSON.stringify(failed.body);
    } finally {
      db.exec('ALTER TABLE events_moved_away RENAME TO events');
      db.close();
    }

    assert.deepEqual(await b.stop(), { code: 0, signal: null });
  });

  test('every stdout line is a JSON object; stderr is empty', () => {
    assert.ok(b.stdout.length > 5, `expected a log line per request, got ${b.stdout.length} lines`);
    for (const line of b.stdout) {
      let parsed: unknown;
      assert.doesNotThrow(() => {
        parsed = JSON.parse(line);
      }, `not JSON: ${line}`);
      assert.ok(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed), `not an object: ${line}`);
    }
    assert.deepEqual(b.stderr, []);
  });

  test('no line holds the password, a token, the SECRET or a stack trace', () => {
    const all = [...b.stdout, ...b.stderr];
    const text = all.join('\n');
    for (const [what, value] of [
      ['the password', PASSWORD],
      ['the wrong password', WRONG_PASSWORD],
      ['the JWT', jwt],
      ['the JWT signature', jwt.split('.')[2] ?? jwt],
      ['the forged JWT', forgedJwt],
      ['the SECRET', SECRET],
    ] as const) {
      const line = all.find((l) => l.includes(value));
      assert.equal(line, undefined, `a log line contains ${what}`);
    }
    assert.doesNotMatch(text, /\n\s+at /, 'stack frame');
    assert.doesNotMatch(text, /\\n\s+at /, 'stack frame inside a JSON string');
    assert.doesNotMatch(text, /\.ts:\d+/, 'source path with line number');
    assert.ok(!b.logs.some((l) => 'stack' in l || JSON.stringify(l).includes('"stack"')), 'a "stack" field');
  });

  test('a request that fails with 500 answers without internals and is logged with its error type and message, without a stack', () => {
    assert.equal(serverErrorStatus, 500, serverErrorBody);
    assert.doesNotMatch(serverErrorBody, /events_moved_away|no such table|SQLITE|\bat\b/i, 'internals in the response');
    const failure = b.logs.find((l) => l.level === 50 && l.msg === 'request failed');
    assert.ok(failure, 'the 500 is logged at error level');
    const err = (failure.err ?? {}) as Record<string, unknown>;
    assert.equal(typeof err.type, 'string', JSON.stringify(failure));
    assert.match(String(err.message), /no such table/, JSON.stringify(failure));
    assert.ok(!('stack' in err), 'no stack in the logged error');
    const line = b.logs.find((l) => isRequestLine(l) && l.res.statusCode === 500);
    assert.ok(line && isRequestLine(line));
    assert.equal(line.req.method, 'GET');
    assert.equal(line.req.url, '/events/log-check');
    assert.equal(failure.reqId, line.reqId, 'error and request line share the request id');
  });

  test('request lines carry method, url and status; access_token is redacted', () => {
    const lines = b.logs.filter(isRequestLine);
    for (const l of lines) {
      assert.equal(typeof l.req.method, 'string', JSON.stringify(l));
      assert.equal(typeof l.req.url, 'string', JSON.stringify(l));
      assert.equal(typeof l.res.statusCode, 'number', JSON.stringify(l));
    }
    const seen = lines.map((l) => `${String(l.req.method)} ${String(l.req.url)} ${String(l.res.statusCode)}`);
    for (const expected of [
      'POST /users 200',
      'POST /login 401',
      'POST /login 200',
      'POST /insert 200',
      'GET /events?access_token=[redacted] 401',
      'GET /events/log-check 500',
    ]) {
      assert.ok(seen.includes(expected), `no request line "${expected}" in:\n${seen.join('\n')}`);
    }
  });

  test('a successful stream request is logged too, with its access_token redacted', () => {
    const lines = b.logs
      .filter(isRequestLine)
      .filter((l) => l.req.method === 'GET' && String(l.req.url).startsWith('/events?event=log-check'));
    assert.deepEqual(
      lines.map((l) => [l.req.url, l.res.statusCode]),
      [['/events?event=log-check&access_token=[redacted]', 200]],
      `the stream GET ${streamUrl.replace(jwt, '<jwt>')} has no request line`,
    );
  });
});
