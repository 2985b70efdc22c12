import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Fastify from 'fastify';
import { BrokerConfigError, brokerFastify, createBrokerHandler, startBroker } from '../src/index.js';
import { makeTestCa, type ServerCertificate, type TestCa } from './helpers/certificates.js';
import { connectH2, H2SseStream, h2Request } from './helpers/h2-client.js';
import { tempDir } from './helpers/start-broker.js';

describe('TLS options of the library', () => {
  const dirs: string[] = [];
  let ca: TestCa;
  let cert: ServerCertificate;
  const options = () => {
    const dir = tempDir();
    dirs.push(dir);
    return {
      port: 0,
      host: '127.0.0.1',
      databaseUrl: `sqlite:${join(dir, 'b.db')}`,
      secret: 'library-secret-library-secret-0123456789',
      bcryptCost: 4,
      logLevel: 'silent' as const,
      env: {},
    };
  };
  before(() => {
    const dir = tempDir();
    dirs.push(dir);
    ca = makeTestCa(dir);
    cert = ca.issue('server');
  });
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('startBroker with tlsCert and tlsKey serves HTTPS with HTTP/2; an unusable pair is a BrokerConfigError', async () => {
    const broker = await startBroker({ ...options(), tlsCert: cert.certPath, tlsKey: cert.keyPath });
    const session = await connectH2(broker.url, ca.ca);
    try {
      assert.match(broker.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const s = new H2SseStream(session, '/events?event=lib');
      await s.waitFor(() => s.frames.length >= 1, 10_000, 'the retry frame');
      await broker.publish({ event: 'lib', data: { over: 'h2' } });
      await s.waitForEvents(1);
      assert.equal(s.events[0]?.data, '{"over":"h2"}');
    } finally {
      session.destroy();
      await broker.close();
    }
    const other = ca.issue('other');
    await assert.rejects(startBroker({ ...options(), tlsCert: cert.certPath, tlsKey: other.keyPath }), (error: unknown) => {
      assert.ok(error instanceof BrokerConfigError);
      assert.match(error.problems.join('\n'), /^tlsCert, tlsKey \(TLS_CERT, TLS_KEY\): TLS_KEY .* does not match the certificate/m);
      return true;
    });
    await assert.rejects(startBroker({ ...options(), tlsCert: cert.certPath }), /tlsCert \(TLS_CERT\) is set but TLS_KEY/);
  });

  test('a mounted Broker refuses TLS options (the host does TLS) and ignores TLS_CERT/TLS_KEY in the environment', async () => {
    for (const mount of [() => brokerFastify({ ...options(), tlsCert: cert.certPath, tlsKey: cert.keyPath }), () => createBrokerHandler({ ...options(), tlsCert: cert.certPath })]) {
      await assert.rejects(
        (async () => mount())(),
        (error: unknown) => error instanceof BrokerConfigError && /^tlsCert: a mounted Broker is served by your server/m.test(error.problems.join('\n')),
      );
    }
    // Only one of the two in the environment would stop startBroker; a mounted Broker never reads them.
    const handler = await createBrokerHandler({ ...options(), env: { TLS_CERT: '/nowhere/cert.pem' } });
    await handler.close();
  });

  test('mounted in a host Fastify app that serves HTTP/2 itself, the stream works over HTTP/2', async () => {
    const host = Fastify({ http2: true, https: { allowHTTP1: true, cert: readFileSync(cert.certPath), key: readFileSync(cert.keyPath) } });
    const broker = brokerFastify(options());
    await host.register(broker.plugin, { prefix: '/broker' });
    host.get('/hello', async () => ({ host: true }));
    await host.listen({ port: 0, host: '127.0.0.1' });
    const { port } = host.server.address() as AddressInfo;
    const session = await connectH2(`https://127.0.0.1:${port}`, ca.ca);
    try {
      assert.deepEqual((await h2Request(session, 'GET', '/hello')).body, { host: true });
      const s = new H2SseStream(session, '/broker/events?event=hosted');
      await s.waitFor(() => s.frames.length >= 1, 10_000, 'the retry frame');
      assert.equal(s.headers['content-type'], 'text/event-stream; charset=utf-8');
      await broker.publish({ event: 'hosted', data: { n: 1 } });
      await s.waitForEvents(1);
      assert.equal(s.events[0]?.data, '{"n":1}');
      const closing = host.close();
      await s.waitForOutcome();
      assert.equal(s.outcome, 'ended', 'the host closing ends the stream cleanly');
      session.destroy();
      await closing;
    } finally {
      session.destroy();
      await host.close();
    }
  });
});
