import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { ClientHttp2Session } from 'node:http2';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { insert, signUp } from './helpers/api.js';
import { browserSkipReason, launchBrowser } from './helpers/browser.js';
import { makeTestCa } from './helpers/certificates.js';
import { connectH2, h2Insert, h2SignUp } from './helpers/h2-client.js';
import { startBroker, type TestBroker, tempDir } from './helpers/start-broker.js';

const skip = browserSkipReason();
if (skip) console.log(skip);

/** EventSources a page opens on one origin. */
const SOURCES = 10;
/** Chromium's limit of HTTP/1.1 connections per host (and per proxy), which HTTP/2 lifts. */
const HTTP1_PER_HOST = 6;

/** EventSource.readyState values (Node 20 has no EventSource of its own). */
const CONNECTING = 0;
const OPEN = 1;

/** What the browser's network stack reports for each EventSource response (DevTools protocol). */
interface StreamResponse {
  readonly url: string;
  readonly protocol: string;
  readonly connectionId: number;
}

async function watchEventSources(context: BrowserContext, page: Page): Promise<{ cdp: CDPSession; responses: StreamResponse[] }> {
  const cdp = await context.newCDPSession(page);
  const responses: StreamResponse[] = [];
  cdp.on('Network.responseReceived', (e) => {
    if (e.type === 'EventSource') {
      responses.push({ url: e.response.url, protocol: e.response.protocol ?? '', connectionId: e.response.connectionId });
    }
  });
  await cdp.send('Network.enable');
  return { cdp, responses };
}

/** Opens SOURCES EventSources on /events?event=<name> in the page; each records what it receives. */
async function openSources(page: Page, name: string): Promise<void> {
  await page.evaluate(
    ({ count, name }) => {
      const w = window as unknown as { sources: EventSource[]; received: string[][] };
      w.sources = [];
      w.received = [];
      for (let i = 0; i < count; i++) {
        const source = new EventSource(`/events?event=${name}`);
        const got: string[] = [];
        source.addEventListener(name, (e) => got.push((e as MessageEvent<string>).data));
        w.sources.push(source);
        w.received.push(got);
      }
    },
    { count: SOURCES, name },
  );
}

/** readyState of each EventSource: 0 CONNECTING, 1 OPEN, 2 CLOSED. */
function states(page: Page): Promise<number[]> {
  return page.evaluate(() => (window as unknown as { sources: EventSource[] }).sources.map((s) => s.readyState));
}

function received(page: Page): Promise<string[][]> {
  return page.evaluate(() => (window as unknown as { received: string[][] }).received);
}

async function until(page: Page, check: (s: number[]) => boolean, what: string, timeoutMs = 10_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await states(page);
    if (check(s)) return s;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; readyStates ${JSON.stringify(s)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('EventSources in Chromium: HTTP/2 lifts the 6-connection limit of HTTP/1.1', { skip }, () => {
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const errors: string[] = [];

  async function newPage(options: { ignoreHTTPSErrors?: boolean } = {}): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext(options);
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    // Uncaught errors, and failed requests other than the favicon the browser asks for by itself.
    page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
    page.on('response', (response) => {
      if (response.status() >= 400 && !response.url().endsWith('/favicon.ico')) errors.push(`${response.status()} ${response.url()}`);
    });
    return { context, page };
  }

  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    assert.deepEqual(errors, []);
  });

  test(`over HTTP/2 (TLS with a test certificate the browser is told to accept): ${SOURCES} EventSources on one origin share one connection and all get live events`, async () => {
    const dir = tempDir();
    const ca = makeTestCa(dir);
    const cert = ca.issue('server');
    const b = await startBroker({ TLS_CERT: cert.certPath, TLS_KEY: cert.keyPath, MAX_STREAMS_PER_IP: '0', SHUTDOWN_TIMEOUT: '1' });
    let api: ClientHttp2Session | undefined;
    try {
      api = await connectH2(b.url, ca.ca);
      const token = await h2SignUp(api, `h2-${process.pid}`);
      // The test CA is not in the browser's store: the context accepts the certificate as it is.
      const { context, page } = await newPage({ ignoreHTTPSErrors: true });
      const { responses } = await watchEventSources(context, page);
      await page.goto(`${b.url}/health`);
      const navigation = await page.evaluate(() => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).nextHopProtocol);
      assert.equal(navigation, 'h2');
      await openSources(page, 'live');
      await until(page, (s) => s.every((x) => x === OPEN), `all ${SOURCES} open`);
      assert.equal(b.broker.core.deps.hub.size, SOURCES);
      await h2Insert(api, token, 'live', { n: 1 });
      const deadline = Date.now() + 10_000;
      let got = await received(page);
      while (!got.every((r) => r.length === 1) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        got = await received(page);
      }
      assert.deepEqual(got, Array.from({ length: SOURCES }, () => ['{"n":1}']));
      // A request while all ten streams are open is not queued behind them either.
      const during = await page.evaluate(async () => {
        const res = await fetch('/health?during=1');
        await res.text();
        const entry = performance.getEntriesByName(res.url)[0] as PerformanceResourceTiming | undefined;
        return { status: res.status, protocol: entry?.nextHopProtocol };
      });
      assert.deepEqual(during, { status: 200, protocol: 'h2' });
      assert.equal(responses.length, SOURCES);
      assert.ok(responses.every((r) => r.protocol === 'h2'), JSON.stringify(responses));
      assert.equal(new Set(responses.map((r) => r.connectionId)).size, 1, 'one connection for all');
      await page.close();
    } finally {
      api?.destroy();
      await b.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`over plain HTTP/1.1 the same page gets ${HTTP1_PER_HOST} streams: the next EventSource opens only when one of them closes`, async () => {
    const b = await startBroker({ MAX_STREAMS_PER_IP: '0', SHUTDOWN_TIMEOUT: '1' });
    try {
      const user = await signUp(b.url);
      const { context, page } = await newPage();
      const { responses } = await watchEventSources(context, page);
      await page.goto(`${b.url}/health`);
      await openSources(page, 'live');
      const open = await until(page, (s) => s.filter((x) => x === OPEN).length === HTTP1_PER_HOST, `${HTTP1_PER_HOST} open`);
      // The rest wait for a connection: the browser has not even sent them (Broker holds six).
      assert.deepEqual(open, [...Array(HTTP1_PER_HOST).fill(OPEN), ...Array(SOURCES - HTTP1_PER_HOST).fill(CONNECTING)]);
      // Still so a moment later (bounded: the browser would have opened them at once if it could).
      for (let i = 0; i < 10; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        assert.equal((await states(page)).filter((x) => x === CONNECTING).length, SOURCES - HTTP1_PER_HOST);
      }
      assert.equal(b.broker.core.deps.hub.size, HTTP1_PER_HOST);
      await insert(b.url, user.token, 'live', { n: 1 });
      const deadline = Date.now() + 10_000;
      let got = await received(page);
      while (!got.slice(0, HTTP1_PER_HOST).every((r) => r.length === 1) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        got = await received(page);
      }
      assert.deepEqual(got.slice(0, HTTP1_PER_HOST), Array.from({ length: HTTP1_PER_HOST }, () => ['{"n":1}']));
      assert.deepEqual(got.slice(HTTP1_PER_HOST), Array.from({ length: SOURCES - HTTP1_PER_HOST }, () => []));
      // Closing one frees its connection: the seventh opens (and gets the snapshot).
      await page.evaluate(() => (window as unknown as { sources: EventSource[] }).sources[0]?.close());
      await until(page, (s) => s[HTTP1_PER_HOST] === OPEN, `EventSource ${HTTP1_PER_HOST + 1} to open`);
      const after = await states(page);
      assert.equal(after.filter((x) => x === OPEN).length, HTTP1_PER_HOST);
      assert.ok(responses.every((r) => r.protocol === 'http/1.1'), JSON.stringify(responses));
      assert.equal(new Set(responses.map((r) => r.connectionId)).size, HTTP1_PER_HOST + 1, 'one connection per stream');
      await page.close();
    } finally {
      await b.close();
    }
  });
});
