import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from './load-config.js';

const load = (env: Record<string, string>, argv: string[] = []) => loadConfig({ env, argv });

describe('loadConfig', () => {
  test('defaults match the original Broker', () => {
    const r = load({});
    assert.equal(r.kind, 'config');
    if (r.kind !== 'config') return;
    assert.equal(r.config.port, 8080);
    assert.equal(r.config.expiry, 3600);
    assert.deepEqual(r.config.origin, ['*']);
    assert.deepEqual(r.config.databaseUrl, { kind: 'sqlite', path: './tmp/broker.db', url: 'sqlite:./tmp/broker.db' });
    assert.equal(r.config.secret, undefined);
    assert.equal(r.config.bcryptCost, 10);
    assert.equal(r.config.heartbeatInterval, 15);
    assert.equal(r.config.bodyLimit, 1024 * 1024);
    assert.equal(r.config.streamAuth, false);
    assert.ok(Object.isFrozen(r.config));
  });

  test('every problem is reported at once, naming the variable', () => {
    const r = load({ PORT: 'abc', EXPIRY: '-1', ORIGIN: 'not a url', BCRYPT_COST: '99', STREAM_AUTH: 'maybe' });
    assert.equal(r.kind, 'invalid');
    if (r.kind !== 'invalid') return;
    assert.equal(r.problems.length, 5);
    for (const name of ['PORT', 'EXPIRY', 'ORIGIN', 'BCRYPT_COST', 'STREAM_AUTH']) {
      assert.ok(
        r.problems.some((p) => p.startsWith(name)),
        `${name} named in ${JSON.stringify(r.problems)}`,
      );
    }
  });

  test('flags win over the environment', () => {
    const r = load({ PORT: '1000' }, ['--port', '2000', '--origin=https://a.example,https://b.example/']);
    assert.ok(r.kind === 'config');
    assert.equal(r.config.port, 2000);
    assert.deepEqual(r.config.origin, ['https://a.example', 'https://b.example']);
  });

  test('origins: * alone, or real origins without paths', () => {
    assert.equal(load({ ORIGIN: '*,https://a.example' }).kind, 'invalid');
    assert.equal(load({ ORIGIN: 'https://a.example/path' }).kind, 'invalid');
    assert.equal(load({ ORIGIN: 'ftp://a.example' }).kind, 'invalid');
    assert.equal(load({ ORIGIN: 'http://localhost:3000' }).kind, 'config');
  });

  test('production without SECRET refuses; postgres URLs are accepted; unknown flags are errors', () => {
    const prod = load({ NODE_ENV: 'production' });
    assert.ok(prod.kind === 'invalid' && prod.problems.some((p) => p.startsWith('SECRET')));
    assert.equal(load({ NODE_ENV: 'production', SECRET: 'x'.repeat(40) }).kind, 'config');
    const pg = load({ DATABASE_URL: 'postgres://localhost/db' });
    assert.ok(pg.kind === 'config' && pg.config.databaseUrl.kind === 'postgres');
    assert.equal(load({ DATABASE_URL: 'mysql://x' }).kind, 'invalid');
    assert.equal(load({}, ['--bogus']).kind, 'invalid');
    assert.equal(load({}, ['--help']).kind, 'help');
    assert.equal(load({}, ['-v']).kind, 'version');
  });

  test('numbers are strict: no trailing garbage, no floats for integers', () => {
    for (const port of ['80x', '1e3', '8080.5', ' ', '70000', '-1']) {
      assert.equal(load({ PORT: port }).kind, 'invalid', `PORT=${JSON.stringify(port)}`);
    }
    const empty = load({ PORT: '' });
    assert.ok(empty.kind === 'config' && empty.config.port === 8080, 'an empty variable counts as unset');
    const hb = load({ HEARTBEAT_INTERVAL: '0.5' });
    assert.ok(hb.kind === 'config' && hb.config.heartbeatInterval === 0.5);
  });

  test('TLS_CERT and TLS_KEY go together: one without the other is refused, naming both', () => {
    for (const env of [{ TLS_CERT: 'cert.pem' }, { TLS_KEY: 'key.pem' }] as Record<string, string>[]) {
      const r = load(env);
      assert.ok(r.kind === 'invalid', JSON.stringify(env));
      assert.equal(r.problems.length, 1);
      assert.match(r.problems[0] ?? '', /^TLS_(CERT|KEY) \(--tls-(cert|key)\) is set but TLS_(KEY|CERT) \(--tls-(key|cert)\) is not/);
    }
    const both = load({}, ['--tls-cert', 'cert.pem', '--tls-key', 'key.pem']);
    assert.ok(both.kind === 'config' && both.config.tlsCert === 'cert.pem' && both.config.tlsKey === 'key.pem');
    const none = load({});
    assert.ok(none.kind === 'config' && none.config.tlsCert === undefined && none.config.tlsKey === undefined);
  });
});
