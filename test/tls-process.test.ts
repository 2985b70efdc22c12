import assert from 'node:assert/strict';
import { copyFileSync, existsSync, writeFileSync } from 'node:fs';
import type { ClientHttp2Session } from 'node:http2';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { cleanupProcesses, makeTempDir, type RunResult, runBroker, startBrokerProcess } from './helpers/broker-process.js';
import { makeKey, makeTestCa } from './helpers/certificates.js';
import { connectH2, H2SseStream, h2Insert, h2SignUp } from './helpers/h2-client.js';
import { SseClient } from './helpers/sse-client.js';

after(cleanupProcesses);

/** The serial number of the certificate a connection was served (an HTTP/2 session's TLS socket). */
function servedSerial(session: ClientHttp2Session): string {
  const socket = session.socket as unknown as { getPeerCertificate(): { serialNumber: string } };
  return socket.getPeerCertificate().serialNumber;
}

describe('TLS: start-up, SIGHUP and SIGTERM of the process', { concurrency: 2 }, () => {
  test('a bad certificate or key, a key of another certificate, a missing file, one of the two alone: exit 2 with one line, before the database is opened', async () => {
    const dir = makeTempDir();
    const ca = makeTestCa(dir);
    const good = ca.issue('good');
    const otherKey = join(dir, 'other.key');
    makeKey(otherKey);
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, 'not a certificate\n');
    const cases: [Record<string, string>, RegExp][] = [
      [{ TLS_CERT: garbage, TLS_KEY: good.keyPath }, new RegExp(`TLS_CERT ${garbage} holds no PEM certificate`)],
      [{ TLS_CERT: good.keyPath, TLS_KEY: good.keyPath }, /TLS_CERT .*good\.key holds no PEM certificate/],
      [{ TLS_CERT: good.certPath, TLS_KEY: garbage }, new RegExp(`TLS_KEY ${garbage} holds no usable PEM private key`)],
      [{ TLS_CERT: good.certPath, TLS_KEY: otherKey }, new RegExp(`TLS_KEY ${otherKey} does not match the certificate in TLS_CERT ${good.certPath}`)],
      [{ TLS_CERT: join(dir, 'nope.pem'), TLS_KEY: good.keyPath }, /cannot read the certificate TLS_CERT .*nope\.pem: no such file/],
      [{ TLS_CERT: good.certPath }, /TLS_CERT \(--tls-cert\) is set but TLS_KEY \(--tls-key\) is not/],
      [{ TLS_KEY: good.keyPath }, /TLS_KEY \(--tls-key\) is set but TLS_CERT \(--tls-cert\) is not/],
    ];
    // Independent processes, each with its own data directory: a few at a time (each is ~1.5 s
    // of CPU to start; all seven at once can take a loaded 2-core machine past the timeouts).
    const results: { data: string; result: PromiseSettledResult<RunResult> }[] = [];
    for (let i = 0; i < cases.length; i += 3) {
      const batch = cases.slice(i, i + 3).map(([env]) => ({ data: makeTempDir(), env }));
      const settled = await Promise.allSettled(batch.map(({ data, env }) => runBroker([], env, { dir: data })));
      batch.forEach(({ data }, j) => results.push({ data, result: settled[j] as PromiseSettledResult<RunResult> }));
    }
    for (const [i, [env, message]] of cases.entries()) {
      const { data, result } = results[i] as (typeof results)[number];
      if (result.status === 'rejected') throw result.reason;
      const r = result.value;
      const what = JSON.stringify(env);
      assert.equal(r.code, 2, `${what}: ${r.stderr}`);
      assert.match(r.stderr, message, what);
      assert.match(r.stderr, /^broker: (invalid TLS certificate or key|invalid configuration)/, what);
      assert.doesNotMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
      assert.equal(r.stdout, '', `${what}: nothing listened`);
      assert.ok(!existsSync(join(data, 'broker.db')), `${what}: the database was not opened`);
    }
  });

  test('SIGHUP loads a renewed certificate for new connections while an open HTTP/2 stream keeps receiving; an invalid one keeps the certificate in use', async () => {
    const dir = makeTempDir();
    const ca = makeTestCa(dir);
    const first = ca.issue('first');
    const renewed = ca.issue('renewed');
    // The deployment's paths, whose content a renewal replaces.
    const certPath = join(dir, 'live.pem');
    const keyPath = join(dir, 'live.key');
    copyFileSync(first.certPath, certPath);
    copyFileSync(first.keyPath, keyPath);
    const b = await startBrokerProcess({ dir, env: { TLS_CERT: certPath, TLS_KEY: keyPath } });
    const sessions: ClientHttp2Session[] = [];
    const connect = async (): Promise<ClientHttp2Session> => {
      const s = await connectH2(b.url, ca.ca);
      sessions.push(s);
      return s;
    };
    try {
      assert.match(b.url, /^https:\/\//);
      const listening = b.logs.find((l) => l.msg === 'Broker listening');
      assert.equal((listening?.certificate as { serialNumber?: string } | undefined)?.serialNumber, first.serialNumber);
      const old = await connect();
      assert.equal(servedSerial(old), first.serialNumber);
      const token = await h2SignUp(old, `hup-${process.pid}`);
      const stream = new H2SseStream(old, '/events?event=renewal');
      await stream.waitFor(() => stream.frames.length >= 1, 10_000, 'the retry frame');

      copyFileSync(renewed.certPath, certPath);
      copyFileSync(renewed.keyPath, keyPath);
      b.kill('SIGHUP');
      const reloaded = await b.waitForLog((l) => /reloaded the TLS certificate/.test(String(l.msg)), 10_000, 'the reload');
      assert.equal((reloaded.certificate as { serialNumber?: string }).serialNumber, renewed.serialNumber);
      const fresh = await connect();
      assert.equal(servedSerial(fresh), renewed.serialNumber, 'a new connection gets the new certificate');
      assert.equal(fresh.alpnProtocol, 'h2', 'and still HTTP/2');
      await h2Insert(fresh, token, 'renewal', { after: 'reload' });
      await stream.waitForEvents(1);
      assert.equal(stream.events[0]?.data, '{"after":"reload"}');
      assert.equal(stream.outcome, undefined, 'the stream opened before the reload is still open');

      // A broken renewal (the key of another certificate) is refused; the renewed pair stays.
      copyFileSync(first.keyPath, keyPath);
      b.kill('SIGHUP');
      const refused = await b.waitForLog((l) => /keeping the certificate in use/.test(String(l.msg)), 10_000, 'the refusal');
      assert.match(String((refused.err as { message?: string }).message), /does not match the certificate/);
      assert.equal(servedSerial(await connect()), renewed.serialNumber);
      await h2Insert(fresh, token, 'renewal', { after: 'refusal' });
      await stream.waitForEvents(2);
      assert.equal(b.stderr.join('\n'), '', 'nothing on stderr');
    } finally {
      for (const s of sessions) s.destroy();
      await b.stop();
    }
  });

  test('SIGTERM with open HTTP/2 and HTTP/1.1 streams over TLS: streams end, exit 0, well before SHUTDOWN_TIMEOUT', async () => {
    const dir = makeTempDir();
    const ca = makeTestCa(dir);
    const cert = ca.issue('server');
    const b = await startBrokerProcess({ dir, env: { TLS_CERT: cert.certPath, TLS_KEY: cert.keyPath, SHUTDOWN_TIMEOUT: '30' } });
    const sessions = [await connectH2(b.url, ca.ca), await connectH2(b.url, ca.ca)];
    try {
      const streams = sessions.flatMap((s) => [new H2SseStream(s, '/events'), new H2SseStream(s, '/events')]);
      const h1 = await SseClient.connect(`${b.url}/events`, {}, { ca: ca.ca });
      for (const s of streams) await s.waitFor(() => s.frames.length >= 1, 10_000, 'the retry frame');
      const started = Date.now();
      const exit = await b.stop(10_000);
      const took = Date.now() - started;
      assert.equal(exit.code, 0);
      assert.ok(took < 5000, `exited ${took} ms after SIGTERM (SHUTDOWN_TIMEOUT is 30 s)`);
      for (const s of streams) {
        await s.waitForOutcome();
        assert.equal(s.outcome, 'ended');
      }
      await h1.waitForClose();
      assert.ok(!b.logs.some((l) => /shutdown timeout/.test(String(l.msg))));
    } finally {
      for (const s of sessions) s.destroy();
    }
  });
});
