import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { BrokerClient } from '../src/client/index.js';
import { browserSkipReason, launchBrowser, watchPageErrors } from './helpers/browser.js';
import { startBroker, type TestBroker } from './helpers/start-broker.js';

const skip = browserSkipReason();
if (skip) console.log(skip);

const ROOT = new URL('..', import.meta.url).pathname;

/** A small React app using the hooks, bundled (React ships no browser ES modules) from the sources. */
const APP = `
import { createElement as h, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { BrokerClient } from './src/client/index.ts';
import { BrokerProvider, useBrokerEvent, useBrokerStatus } from './src/react/index.ts';

const query = new URLSearchParams(location.search);
const [A, B, C] = ['a', 'b', 'c'].map((k) => query.get(k));
window.renders = {};

function Value({ id, name }) {
  const value = useBrokerEvent(name);
  window.renders[id] = (window.renders[id] ?? 0) + 1;
  return h('output', { id }, value === undefined ? 'none' : JSON.stringify(value));
}
function Status() {
  const s = useBrokerStatus();
  return h('p', { id: 'status', 'data-state': s.state, 'data-transport': s.transport }, s.state);
}
function App() {
  const [extra, setExtra] = useState(false);
  window.showExtra = () => setExtra(true);
  return h('main', null,
    h(Status),
    h(Value, { id: 'a1', name: A }),
    h(Value, { id: 'a2', name: A }),
    h(Value, { id: 'b', name: B }),
    extra ? h(Value, { id: 'c', name: C }) : null);
}
createRoot(document.getElementById('root')).render(h(BrokerProvider, { client: new BrokerClient() }, h(App)));
`;

describe('broker/react in headless Chromium', { skip }, () => {
  let b: TestBroker;
  let browser: Browser;
  let bundle: string;
  let client: BrokerClient;

  before(async () => {
    const result = await build({
      stdin: { contents: APP, resolveDir: ROOT, loader: 'js', sourcefile: 'react-app.js' },
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      define: { 'process.env.NODE_ENV': '"production"' },
      logLevel: 'silent',
    });
    bundle = result.outputFiles[0]?.text ?? '';
    b = await startBroker({ SHUTDOWN_TIMEOUT: '0.5' });
    client = new BrokerClient({ url: b.url });
    await client.createUser({ username: 'react', password: 'correct horse battery' });
    await client.login({ username: 'react', password: 'correct horse battery' });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await b?.close();
  });

  /** Serves the app from Broker's origin (same origin, like a real deployment) without a file on disk. */
  async function open(query: string, errors: string[]): Promise<Page> {
    const page = await browser.newPage();
    page.setDefaultTimeout(10_000);
    watchPageErrors(page, errors);
    await page.addInitScript(() => {
      const Native = window.EventSource;
      const opened: string[] = [];
      Object.assign(window, { openedEventSources: opened });
      window.EventSource = class extends Native {
        constructor(url: string | URL, init?: EventSourceInit) {
          super(url, init);
          opened.push(String(url));
        }
      };
    });
    await page.route(`${b.url}/react-test/**`, (route) =>
      route.request().url().endsWith('/app.js')
        ? route.fulfill({ contentType: 'text/javascript', body: bundle })
        : route.fulfill({ contentType: 'text/html', body: '<!doctype html><div id="root"></div><script type="module" src="app.js"></script>' }),
    );
    await page.goto(`${b.url}/react-test/index.html?${query}`);
    return page;
  }

  const text = (page: Page, id: string): Promise<string | null> => page.locator(`#${id}`).textContent();
  const renders = (page: Page): Promise<Record<string, number>> =>
    page.evaluate(() => (window as unknown as { renders: Record<string, number> }).renders);
  const openedSources = (page: Page): Promise<string[]> =>
    page.evaluate(() => (window as unknown as { openedEventSources: string[] }).openedEventSources);
  const subscribers = async (): Promise<number> =>
    ((await (await fetch(`${b.url}/health`)).json()) as { subscribers: number }).subscribers;

  test('useBrokerEvent: latest data per name, re-rendering only the hooks of the name that changed, one connection for all', async () => {
    const errors: string[] = [];
    const [A, B, C] = ['cart', 'user', 'theme'].map((n) => `${n}-${process.pid}`) as [string, string, string];
    await client.insert({ event: A, data: { items: 1 } });
    await client.insert({ event: C, data: 'dark' });
    const page = await open(`a=${A}&b=${B}&c=${C}`, errors);
    try {
      await page.locator('#status[data-state="open"]').waitFor();
      assert.equal(await page.locator('#status').getAttribute('data-transport'), 'eventsource', 'the native EventSource');
      await page.locator('#a1', { hasText: '{"items":1}' }).waitFor();
      assert.equal(await text(page, 'a2'), '{"items":1}');
      assert.equal(await text(page, 'b'), 'none');
      const sources = await openedSources(page);
      assert.equal(sources.length, 1, 'three hooks, one EventSource');
      assert.deepEqual(new URL(sources[0] ?? '').searchParams.getAll('event'), [A, B].sort());
      assert.equal(await subscribers(), 1, 'one stream on the server');

      const before = await renders(page);
      await client.insert({ event: B, data: { name: 'Rusty' } });
      await page.locator('#b', { hasText: '{"name":"Rusty"}' }).waitFor();
      await client.insert({ event: A, data: { items: 2 } });
      await page.locator('#a2', { hasText: '{"items":2}' }).waitFor();
      assert.equal(await text(page, 'a1'), '{"items":2}');
      const after = await renders(page);
      assert.equal(after.b, (before.b ?? 0) + 1, 'b rendered once, for its own change');
      assert.equal(after.a1, (before.a1 ?? 0) + 1, 'a1 rendered once, for its own change');

      // A hook for a new name: still one connection (reopened on the larger set of names), and
      // the new name starts from its latest value.
      await page.evaluate(() => (window as unknown as { showExtra: () => void }).showExtra());
      await page.locator('#c', { hasText: '"dark"' }).waitFor();
      const reopened = await openedSources(page);
      assert.equal(reopened.length, 2);
      assert.deepEqual(new URL(reopened[1] ?? '').searchParams.getAll('event'), [A, B, C].sort());
      await page.waitForFunction(async (url) => ((await (await fetch(url)).json()) as { subscribers: number }).subscribers === 1, `${b.url}/health`);
      assert.equal(await text(page, 'a1'), '{"items":2}', 'values kept across the reopening');
      await client.insert({ event: C, data: 'light' });
      await page.locator('#c', { hasText: '"light"' }).waitFor();
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });
});
