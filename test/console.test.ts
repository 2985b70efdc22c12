import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { BrokerClient } from '../src/client/index.js';
import { browserSkipReason, ensureConsoleBuilt, launchBrowser, watchPageErrors } from './helpers/browser.js';
import { startBroker, type TestBroker } from './helpers/start-broker.js';

const skip = browserSkipReason();
if (skip) console.log(skip);

const PASSWORD = 'correct horse battery';
/** BROKER_SCREENSHOTS=1 node scripts/test.mjs console  refreshes docs/screenshots/. */
const SHOTS = process.env.BROKER_SCREENSHOTS === '1' ? new URL('../docs/screenshots/', import.meta.url).pathname : undefined;

async function shot(page: Page, name: string, fullPage = false): Promise<void> {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: `${SHOTS}${name}.png`, fullPage });
}

/** Access rules: `private.<user id>.…` only for that user; everything else public. */
const RULES = {
  rules: [
    { names: 'private.{user}.>', read: 'owner', write: 'owner' },
    { names: '>', read: 'public', write: 'user' },
  ],
};

/** Whole seconds of local time (the contexts use UTC) for a datetime-local input. */
function dateTimeLocal(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString().slice(0, 19);
}

describe('web console (headless Chromium)', { skip }, () => {
  let b: TestBroker;
  let browser: Browser;
  let origin: string;
  const contexts: BrowserContext[] = [];
  /** Requests that left Broker's origin, in any page. */
  const foreign: string[] = [];
  const errors: string[] = [];
  let page: Page;
  const username = `ada-${process.pid}`;

  /** A page in a new browser context (its own storage: another browser, in effect). */
  async function newPage(viewport = { width: 1280, height: 860 }, errorSink = errors): Promise<Page> {
    const context = await browser.newContext({ timezoneId: 'UTC', viewport });
    contexts.push(context);
    const p = await context.newPage();
    p.setDefaultTimeout(10_000);
    p.on('request', (request) => {
      const url = request.url();
      if (!url.startsWith(`${origin}/`) && !url.startsWith('data:')) foreign.push(url);
    });
    watchPageErrors(p, errorSink);
    return p;
  }

  async function logIn(p: Page, name: string, password = PASSWORD): Promise<void> {
    await p.goto(`${b.url}/console/`);
    const form = p.locator('#login-form');
    await form.getByLabel('Username').fill(name);
    await form.getByLabel('Password').fill(password);
    await form.getByRole('button', { name: 'Log in' }).click();
    await p.locator('#status[data-state="open"]').waitFor();
  }

  async function signUp(p: Page, name: string): Promise<void> {
    await p.goto(`${b.url}/console`);
    const form = p.locator('#signup-form');
    await form.getByLabel('Username').fill(name);
    await form.getByLabel('Password').fill(PASSWORD);
    await form.getByRole('button', { name: 'Sign up' }).click();
    await p.locator('#status[data-state="open"]').waitFor();
  }

  before(async () => {
    ensureConsoleBuilt();
    // Short shutdown: Node's fetch leaves a spare idle connection that close() would wait for.
    b = await startBroker({ SHUTDOWN_TIMEOUT: '0.5' }, { rules: RULES });
    origin = new URL(b.url).origin;
    browser = await launchBrowser();
    page = await newPage();
  });
  after(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    await b?.close();
  });

  test('is served by Broker: relative redirect, strict headers, no traversal', async () => {
    const redirect = await fetch(`${b.url}/console`, { redirect: 'manual' });
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.get('location'), 'console/');
    const html = await fetch(`${b.url}/console/`);
    assert.equal(html.status, 200);
    assert.match(html.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(html.headers.get('content-security-policy') ?? '', /default-src 'self'.*connect-src 'self'/);
    assert.equal(html.headers.get('x-content-type-options'), 'nosniff');
    const etag = html.headers.get('etag') ?? '';
    assert.equal((await fetch(`${b.url}/console/`, { headers: { 'if-none-match': etag } })).status, 304);
    for (const path of ['/console/app/main.js', '/console/client/index.js', '/console/app/console.css', '/console/demo.html']) {
      const res = await fetch(`${b.url}${path}`);
      assert.equal(res.status, 200, path);
      await res.arrayBuffer();
    }
    assert.match((await fetch(`${b.url}/console/client/index.js`)).headers.get('content-type') ?? '', /^text\/javascript/);
    for (const path of ['/console/..%2Fpackage.json', '/console/client/index.d.ts', '/console/app/.hidden.js', '/console/nope.html', '/console/client/..%2F..%2Fpackage.json']) {
      const res = await fetch(`${b.url}${path}`);
      assert.equal(res.status, 404, path);
      await res.arrayBuffer();
    }
  });

  test('sign up, log out, log in; insert an event (JSON checked) and see it arrive live with its id and time', async () => {
    await page.goto(`${b.url}/console`);
    assert.ok(page.url().endsWith('/console/'));
    await shot(page, 'console-login');
    await signUp(page, username);
    assert.equal(await page.locator('#who-name').textContent(), username);
    await page.getByRole('button', { name: 'Log out' }).click();
    const login = page.locator('#login-form');
    await login.getByLabel('Username').fill(username);
    await login.getByLabel('Password').fill('not the password');
    await login.getByRole('button', { name: 'Log in' }).click();
    await page.getByText('Wrong username or password.').waitFor();
    await login.getByLabel('Password').fill(PASSWORD);
    await login.getByRole('button', { name: 'Log in' }).click();
    await page.locator('#status[data-state="open"]').waitFor();
    assert.equal(await page.locator('#status').getAttribute('data-transport'), 'fetch', 'all names: the fetch stream');

    await page.getByRole('link', { name: 'Insert & pending' }).click();
    const insert = page.locator('#insert-form');
    await insert.getByLabel('Event name').fill('greeting');
    const data = insert.getByLabel('Data (JSON)');
    await data.fill('{"hello": ');
    await page.getByText('Not valid JSON').waitFor();
    assert.equal(await data.getAttribute('aria-invalid'), 'true');
    await page.getByRole('button', { name: 'Insert', exact: true }).click();
    assert.equal(await page.locator('#insert-result').textContent(), '', 'invalid JSON is not sent');
    await data.fill('{"hello": "world"}');
    assert.equal(await data.getAttribute('aria-invalid'), 'false');
    await page.getByRole('button', { name: 'Insert', exact: true }).click();
    await page.getByText(/Inserted greeting \(id [0-9a-f-]{36}\)/).waitFor();

    await page.getByRole('link', { name: 'Live' }).click();
    const row = page.locator('#live-body tr[data-event="greeting"]');
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    assert.match(cells[0] ?? '', /^\d+$/, 'the id');
    assert.match(cells[1] ?? '', /^\d\d:\d\d:\d\d\.\d{3}$/, 'the time');
    assert.equal(cells[3], '{"hello":"world"}');
    await page.locator('#values-body tr[data-event="greeting"]', { hasText: '{"hello":"world"}' }).waitFor();

    // Inserted elsewhere (another user, from Node): it appears without any reload.
    const other = new BrokerClient({ url: b.url });
    await other.createUser({ username: `${username}-node`, password: PASSWORD });
    await other.login({ username: `${username}-node`, password: PASSWORD });
    for (const [event, value] of [['cart', { items: 3 }], ['user', { name: 'Rusty' }], ['greeting', { hello: 'again' }]] as const) {
      await other.insert({ event, data: value });
    }
    await page.locator('#values-body tr[data-event="greeting"]', { hasText: '{"hello":"again"}' }).waitFor();
    assert.equal(await page.locator('#live-body tr[data-event="greeting"]').count(), 2);
    assert.deepEqual(await page.locator('#values-body tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-event'))), ['cart', 'greeting', 'user']);
    await shot(page, 'console-live');
  });

  test('schedule an event: pending with a countdown, it arrives at its time; a cancelled one never arrives', async () => {
    await page.getByRole('link', { name: 'Insert & pending' }).click();
    const insert = page.locator('#insert-form');
    const schedule = async (n: number, due: number): Promise<void> => {
      await insert.getByLabel('Event name').fill('reminder');
      await insert.getByLabel('Data (JSON)').fill(JSON.stringify({ n }));
      await insert.getByLabel('At a date and time').check();
      await insert.getByLabel(/^Date and time/).fill(dateTimeLocal(due));
      await page.getByRole('button', { name: 'Insert', exact: true }).click();
      await page.getByText(`Scheduled reminder for`).waitFor();
    };
    const cancelledDue = Math.ceil(Date.now() / 1000) + 4;
    const keptDue = cancelledDue + 2;
    await schedule(1, cancelledDue);
    await schedule(2, keptDue);
    const pending = page.locator('#pending-body tr[data-event="reminder"]');
    await page.waitForFunction(() => document.querySelectorAll('#pending-body tr').length === 2);
    assert.match((await pending.first().locator('.countdown').textContent()) ?? '', /^in \d s$/);
    await shot(page, 'console-insert');

    const cancelName = `Cancel reminder due ${dateTimeLocal(cancelledDue).replace('T', ' ')}`;
    await page.getByRole('button', { name: cancelName }).click();
    await page.getByText(/^Cancelled reminder \(id /).waitFor();
    await page.waitForFunction(() => document.querySelectorAll('#pending-body tr').length === 1);

    // The kept one arrives at its time (not before); by then the cancelled one's time has passed.
    await page.getByRole('link', { name: 'Live' }).click();
    const arrived = page.locator('#live-body tr[data-event="reminder"]');
    await arrived.waitFor({ timeout: 15_000 });
    const received = Number(await arrived.getAttribute('data-received'));
    assert.ok(received >= keptDue * 1000, `arrived ${keptDue * 1000 - received} ms early`);
    assert.ok(received < keptDue * 1000 + 3000, `arrived ${received - keptDue * 1000} ms late`);
    assert.equal(await arrived.locator('td').nth(3).textContent(), '{"n":2}');
    assert.equal(await arrived.count(), 1, 'the cancelled event never arrived');
    // Released: it leaves the pending list (its fate read back from the history).
    await page.getByRole('link', { name: 'Insert & pending' }).click();
    await page.getByText('No pending events.').waitFor();
  });

  test('history of a name, as a paged table', async () => {
    const me = new BrokerClient({ url: b.url });
    await me.login({ username, password: PASSWORD });
    const base = Math.floor(Date.now() / 1000) - 100;
    for (let n = 1; n <= 25; n++) await me.insert({ event: 'counter', data: { n }, timestamp: base + n });
    await page.getByRole('link', { name: 'History' }).click();
    const form = page.locator('#history-form');
    await form.getByLabel('Event name').fill('counter');
    await form.getByLabel('Per page').selectOption('10');
    await page.getByRole('button', { name: 'Show' }).click();
    const rows = page.locator('#history-body tr');
    const dataOf = (): Promise<string[]> => rows.evaluateAll((trs) => trs.map((tr) => tr.lastElementChild?.textContent ?? ''));
    await page.locator('#history-page', { hasText: /^Page 1$/ }).waitFor();
    assert.equal((await dataOf()).length, 10);
    assert.equal((await dataOf())[0], '{"n":1}');
    assert.equal(await page.getByRole('button', { name: '← Previous' }).isDisabled(), true);
    assert.deepEqual(await rows.first().locator('td').nth(2).textContent(), 'released');
    assert.deepEqual(await rows.first().locator('td').nth(3).textContent(), 'you');
    assert.equal(await rows.first().locator('td').nth(1).textContent(), new Date((base + 1) * 1000).toISOString().slice(0, 19).replace('T', ' '));
    await page.getByRole('button', { name: 'Next →' }).click();
    await page.locator('#history-page', { hasText: /^Page 2$/ }).waitFor();
    assert.equal((await dataOf())[0], '{"n":11}');
    await page.getByRole('button', { name: 'Next →' }).click();
    await page.locator('#history-page', { hasText: /^Page 3$/ }).waitFor();
    assert.deepEqual(await dataOf(), ['{"n":21}', '{"n":22}', '{"n":23}', '{"n":24}', '{"n":25}']);
    assert.equal(await page.getByRole('button', { name: 'Next →' }).isDisabled(), true);
    await page.getByRole('button', { name: '← Previous' }).click();
    await page.locator('#history-page', { hasText: /^Page 2$/ }).waitFor();
    assert.equal((await dataOf())[9], '{"n":20}');
    await shot(page, 'console-history');
  });

  test('the demo: two windows (two users) editing one form stay in sync through Broker', async () => {
    const [a, bPage] = [page, await newPage({ width: 640, height: 860 })];
    await signUp(bPage, `${username}-b`);
    const form = `f${process.pid}`;
    await a.goto(`${b.url}/console/demo.html?form=${form}`);
    await bPage.goto(`${b.url}/console/demo.html?form=${form}`);
    for (const p of [a, bPage]) {
      await p.locator('#demo-status[data-state="open"]').waitFor();
      assert.equal(await p.locator('#demo-status').getAttribute('data-transport'), 'eventsource', 'named events: the native EventSource');
    }
    const sees = (p: Page, label: string, value: string): Promise<unknown> =>
      p.waitForFunction(
        ([l, v]) => {
          const input = [...document.querySelectorAll('label')].find((x) => x.textContent === l)?.control;
          return input instanceof HTMLInputElement || input instanceof HTMLSelectElement || input instanceof HTMLTextAreaElement
            ? input.value === v
            : false;
        },
        [label, value] as const,
      );
    await a.getByLabel('Destination').fill('Lisbon');
    await sees(bPage, 'Destination', 'Lisbon');
    await bPage.getByLabel('Transport').selectOption('Train');
    await sees(a, 'Transport', 'Train');
    await bPage.getByLabel('Notes').fill('window seat, please');
    await sees(a, 'Notes', 'window seat, please');
    await a.getByLabel('Confirmed').check();
    await bPage.waitForFunction(() => (document.getElementById('f-confirmed') as HTMLInputElement | null)?.checked === true);
    await a.getByLabel('Trip name').fill('Spring trip');
    await sees(bPage, 'Trip name', 'Spring trip');
    // A window opened later starts from the latest value of every field.
    const late = await bPage.context().newPage();
    await late.goto(`${b.url}/console/demo.html?form=${form}`);
    await sees(late, 'Destination', 'Lisbon');
    await sees(late, 'Transport', 'Train');
    await shot(a, 'demo-form');
    await late.close();
    // Not logged in: read-only, and still in sync.
    const watcher = await newPage({ width: 640, height: 860 });
    await watcher.goto(`${b.url}/console/demo.html?form=${form}`);
    await sees(watcher, 'Destination', 'Lisbon');
    assert.equal(await watcher.getByLabel('Destination').isDisabled(), true);
    await a.getByLabel('Destination').fill('Porto');
    await sees(watcher, 'Destination', 'Porto');
  });

  test("shows only what the user may read: one user's private names never reach another user's console", async () => {
    const ada = new BrokerClient({ url: b.url });
    await ada.login({ username, password: PASSWORD });
    const adaId = (await ada.me()).id;
    const other = await newPage();
    await signUp(other, `${username}-other`);
    const secret = `private.${adaId}.diary`;
    await ada.insert({ event: secret, data: { text: 'dear diary' } });
    // Released after the secret: once it shows, the secret would have shown before it.
    await ada.insert({ event: 'marker', data: { after: 'the diary' } });
    await other.locator('#values-body tr[data-event="marker"]').waitFor();
    assert.equal(await other.locator(`#live-body tr[data-event="${secret}"], #values-body tr[data-event="${secret}"]`).count(), 0);
    // Its owner sees it, live and in the current values (the console subscribes with the token).
    // (The demo took this page elsewhere: the stored session signs the console in again.)
    await page.goto(`${b.url}/console/#live`);
    await page.locator('#status[data-state="open"]').waitFor();
    await page.locator(`#values-body tr[data-event="${secret}"]`, { hasText: 'dear diary' }).waitFor();
    await page.locator(`#live-body tr[data-event="${secret}"]`).waitFor();
    assert.equal(await page.locator('#status').getAttribute('data-transport'), 'fetch');
    assert.equal(await page.locator('#tab-users').isHidden(), true, 'no Users tab for a user without the admin role');
  });

  test('the pending list comes from Broker: events scheduled elsewhere are listed, in every browser of the user', async () => {
    const ada = new BrokerClient({ url: b.url });
    await ada.login({ username, password: PASSWORD });
    const due = Math.floor(Date.now() / 1000) + 3600;
    const { id } = await ada.insert({ event: 'scheduled-elsewhere', data: { from: 'a script' }, timestamp: due });
    // This console did not insert it: it is listed all the same.
    await page.getByRole('link', { name: 'Insert & pending' }).click();
    const row = page.locator(`#pending-body tr[data-id="${id}"]`);
    await row.waitFor();
    assert.equal(await row.locator('td').first().textContent(), 'scheduled-elsewhere');
    assert.equal(await row.locator('td').nth(3).textContent(), '{"from":"a script"}');
    // Another browser (no shared storage) of the same user lists it too, and cancels it there.
    const second = await newPage();
    await logIn(second, username);
    await second.getByRole('link', { name: 'Insert & pending' }).click();
    const there = second.locator(`#pending-body tr[data-id="${id}"]`);
    await there.waitFor();
    await there.getByRole('button', { name: /^Cancel scheduled-elsewhere due / }).click();
    await second.getByText(/^Cancelled scheduled-elsewhere \(id /).waitFor();
    await there.waitFor({ state: 'detached' });
    // Back on the first console, showing the tab reads the list again: gone.
    await page.getByRole('link', { name: 'Live' }).click();
    await page.getByRole('link', { name: 'Insert & pending' }).click();
    await row.waitFor({ state: 'detached' });
    // Nothing of it is kept in the browser.
    const keys = await page.evaluate(() => Object.keys(localStorage));
    assert.deepEqual(keys, ['broker.console.session']);
  });

  test("an admin's Users tab: search, disable (the user's next call fails and their console signs out), enable, roles, password; last_admin explained", async () => {
    const adminName = `${username}-admin`;
    await b.broker.core.deps.users.create({ username: adminName, password: PASSWORD, info: null, roles: ['admin'] });
    const victimName = `${username}-victim`;
    const victim = new BrokerClient({ url: b.url });
    await victim.createUser({ username: victimName, password: PASSWORD });
    await victim.login({ username: victimName, password: PASSWORD });
    const victimPage = await newPage();
    await logIn(victimPage, victimName);

    // The admin works at a phone's width; their page provokes one 400 (last_admin) on purpose.
    const adminErrors: string[] = [];
    const admin = await newPage({ width: 390, height: 844 }, adminErrors);
    await logIn(admin, adminName);
    await admin.getByRole('link', { name: 'Users' }).click();
    const search = admin.locator('#users-search-form');
    await search.getByLabel('Username contains').fill(`${username}-`);
    await search.getByRole('button', { name: 'Search' }).click();
    const victimRow = admin.locator(`#users-body tr[data-username="${victimName}"]`);
    await victimRow.waitFor();
    assert.equal(await victimRow.locator('td').nth(2).textContent(), 'enabled');
    assert.ok((await admin.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)) <= 0, 'the Users tab fits in 390 px');
    await shot(admin, 'console-users-phone');

    await admin.getByRole('button', { name: `Disable ${victimName}` }).click();
    await admin.locator(`#users-body tr[data-username="${victimName}"][data-disabled="true"]`).waitFor();
    await admin.getByText(`Saved ${victimName}: disabled.`).waitFor();
    await assert.rejects(victim.me(), { status: 401 });
    await assert.rejects(victim.login({ username: victimName, password: PASSWORD }), { status: 403, code: 'user_disabled' });
    await victimPage.getByText('Your session has ended. Please log in again.').waitFor();
    assert.equal(await victimPage.locator('#app-view').isHidden(), true);

    await admin.getByRole('button', { name: `Enable ${victimName}` }).click();
    await admin.locator(`#users-body tr[data-username="${victimName}"][data-disabled="false"]`).waitFor();
    await admin.getByRole('button', { name: `Edit ${victimName}` }).click();
    const edit = admin.locator('#user-edit');
    await edit.getByLabel(/^Roles/).fill('editor, reviewer');
    await edit.getByLabel(/^New password/).fill('a brand new password');
    await edit.getByRole('button', { name: 'Save' }).click();
    await edit.getByText(`Saved ${victimName}: roles editor, reviewer, new password set.`).waitFor();
    // The message shows once Broker has answered; the list is fetched again after it.
    await victimRow.locator('td.roles', { hasText: /^editor, reviewer$/ }).waitFor();
    await victim.login({ username: victimName, password: 'a brand new password' });
    assert.deepEqual((await victim.me()).roles, ['editor', 'reviewer']);

    // The only admin cannot disable themself: Broker says why, and the console shows it.
    await search.getByLabel('Username contains').fill(adminName);
    await search.getByRole('button', { name: 'Search' }).click();
    await admin.locator(`#users-body tr[data-username="${adminName}"]`).waitFor();
    await admin.getByRole('button', { name: `Disable ${adminName}` }).click();
    await admin
      .locator('#users-message[data-kind="error"]', { hasText: `Could not change ${adminName}: That would leave no enabled admin; make another user an admin first.` })
      .waitFor();
    assert.equal(await admin.locator(`#users-body tr[data-username="${adminName}"]`).getAttribute('data-disabled'), 'false');
    await admin.setViewportSize({ width: 1280, height: 860 });
    await search.getByLabel('Username contains').fill(`${username}-`);
    await search.getByRole('button', { name: 'Search' }).click();
    await victimRow.waitFor();
    await admin.getByRole('button', { name: `Edit ${victimName}` }).click();
    await shot(admin, 'console-users');
    assert.deepEqual(
      adminErrors,
      ['console.error: Failed to load resource: the server responded with a status of 400 (Bad Request)'],
      'only the refused last_admin change',
    );
  });

  test('works at a phone width; every control has a label; nothing is requested from another origin', async () => {
    const phone = await newPage({ width: 390, height: 844 });
    await phone.goto(`${b.url}/console/`);
    const overflow = (): Promise<number> => phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok((await overflow()) <= 0, 'login view fits');
    await phone.locator('#login-form').getByLabel('Username').fill(username);
    await phone.locator('#login-form').getByLabel('Password').fill(PASSWORD);
    await phone.getByRole('button', { name: 'Log in' }).click();
    await phone.locator('#status[data-state="open"]').waitFor();
    await phone.locator('#values-body tr[data-event="counter"]').waitFor();
    for (const view of ['live', 'insert', 'history']) {
      await phone.goto(`${b.url}/console/#${view}`);
      await phone.locator(`#view-${view}`).waitFor();
      assert.ok((await overflow()) <= 0, `${view} fits in 390 px`);
      if (view === 'live') {
        await phone.locator('#values-body tr[data-event="counter"]').waitFor();
        await shot(phone, 'console-phone');
      }
    }
    for (const path of ['/console/', '/console/demo.html']) {
      await phone.goto(`${b.url}${path}`);
      const unlabelled = await phone.evaluate(() =>
        [...document.querySelectorAll('input, select, textarea, button')]
          .filter((c) => {
            if (c instanceof HTMLButtonElement) return (c.textContent ?? '').trim() === '' && !c.getAttribute('aria-label');
            const control = c as HTMLInputElement;
            return control.labels?.length === 0 && !control.getAttribute('aria-label');
          })
          .map((c) => c.outerHTML),
      );
      assert.deepEqual(unlabelled, [], `${path}: controls without a label`);
    }
    assert.deepEqual(foreign, [], 'requests to other origins');
    assert.deepEqual(errors, [], 'errors in the pages');
  });
});
