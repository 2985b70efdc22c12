/**
 * The web console: sign up / log in, the live stream, the current value of every name, history,
 * insert (now or later), the user's pending events, and for admins the users. Plain DOM, no
 * framework, no bundler: the browser loads these compiled modules and the client library
 * directly from Broker.
 */
import { BrokerError, type ConnectionStatus, type Profile, type StreamEvent, type Subscription } from '../client/index.js';
import { byId, el, errorText, formatDateTime, formatTime, preview, toDateTimeLocal } from './dom.js';
import { PendingView } from './pending-view.js';
import { createSessionClient } from './session.js';
import { UsersView } from './users-view.js';

const MAX_LIVE_ROWS = 200;
/** The signed-in user (GET /me), or undefined when signed out. */
let me: Profile | undefined;
const client = createSessionClient((session, otherTab) => {
  // Logged out (here or in another tab), or a refresh found the session over.
  if (session === undefined && me !== undefined) signedOut('Your session has ended. Please log in again.');
  // Logged in in another tab.
  else if (session !== undefined && otherTab && me === undefined) void signedIn();
});

// ---------------------------------------------------------------- connection status

const statusBox = byId('status', HTMLElement);
const statusText = byId('status-text', HTMLElement);

function showStatus(status: ConnectionStatus | undefined): void {
  if (!status) {
    statusBox.dataset.state = 'closed';
    statusText.textContent = 'Offline';
    return;
  }
  statusBox.dataset.state = status.state;
  statusBox.dataset.transport = status.transport;
  const via = status.transport === 'eventsource' ? 'EventSource' : 'fetch stream';
  statusBox.title = `Transport: ${via}${status.lastEventId ? `, last id ${status.lastEventId}` : ''}`;
  switch (status.state) {
    case 'connecting':
      statusText.textContent = 'Connecting…';
      break;
    case 'open':
      statusText.textContent = 'Live';
      break;
    case 'reconnecting':
      statusText.textContent =
        status.retryInMs === undefined
          ? `Reconnecting (attempt ${status.attempt})…`
          : `Reconnecting in ${Math.ceil(status.retryInMs / 1000)} s (attempt ${status.attempt})`;
      break;
    case 'closed':
      statusText.textContent = status.error ? `Closed: ${status.error.message}` : 'Closed';
      break;
  }
}

// ---------------------------------------------------------------- session

const authView = byId('auth-view', HTMLElement);
const appView = byId('app-view', HTMLElement);
const who = byId('who', HTMLElement);
const whoName = byId('who-name', HTMLElement);
const authMessage = byId('auth-message', HTMLElement);
const usersTab = byId('tab-users', HTMLAnchorElement);
let subscription: Subscription | undefined;

/** A 401 that reaches here means the session is over (the client refreshes expired tokens itself). */
function handleError(error: unknown, target: HTMLElement, prefix = ''): void {
  if (error instanceof BrokerError && error.status === 401 && error.code === 'unauthorized') {
    signedOut('Your session has ended. Please log in again.');
    return;
  }
  target.textContent = `${prefix}${errorText(error)}`;
  target.dataset.kind = 'error';
}

const pending = new PendingView(client, handleError);
const users = new UsersView(
  client,
  () => me?.id ?? '',
  () => void loadMe(),
  handleError,
);

/** Reads who is signed in (and their roles: admins get the Users tab). */
async function loadMe(): Promise<boolean> {
  try {
    me = await client.me();
  } catch (error) {
    if (client.session === undefined || (error instanceof BrokerError && error.status === 401)) {
      signedOut('Your session has ended. Please log in again.');
    } else {
      authView.hidden = false;
      authMessage.textContent = `Could not reach Broker: ${errorText(error)}`;
    }
    return false;
  }
  whoName.textContent = me.username;
  usersTab.hidden = !me.roles.includes('admin');
  if (usersTab.hidden && shown === 'users') location.hash = '#live';
  return true;
}

async function signedIn(): Promise<void> {
  if (!(await loadMe())) return;
  shown = undefined;
  authView.hidden = true;
  appView.hidden = false;
  who.hidden = false;
  authMessage.textContent = '';
  startStream();
  pending.start();
  showView(location.hash.slice(1));
}

function signedOut(message = ''): void {
  const wasIn = me !== undefined;
  me = undefined;
  subscription?.close();
  subscription = undefined;
  pending.stop();
  users.reset();
  usersTab.hidden = true;
  // Ends the session at Broker too (best effort); the client forgets it at once.
  void client.logout();
  showStatus(undefined);
  authView.hidden = false;
  appView.hidden = true;
  who.hidden = true;
  authMessage.textContent = message;
  if (wasIn || message) byId('login-username', HTMLInputElement).focus();
}

byId('login-form', HTMLFormElement).addEventListener('submit', (event) => {
  event.preventDefault();
  void (async () => {
    const username = byId('login-username', HTMLInputElement).value.trim();
    const password = byId('login-password', HTMLInputElement).value;
    authMessage.textContent = 'Logging in…';
    await logIn(username, password);
  })();
});

/** Logs in (after `before`, e.g. creating the account), or shows why it failed. */
async function logIn(username: string, password: string, before?: () => Promise<unknown>): Promise<void> {
  try {
    await before?.();
    await client.login({ username, password });
  } catch (error) {
    authMessage.textContent = errorText(error);
    return;
  }
  await signedIn();
}

const signupInfo = byId('signup-info', HTMLTextAreaElement);
const signupInfoError = byId('signup-info-error', HTMLElement);
attachJsonValidation(signupInfo, signupInfoError, true);

byId('signup-form', HTMLFormElement).addEventListener('submit', (event) => {
  event.preventDefault();
  void (async () => {
    const username = byId('signup-username', HTMLInputElement).value.trim();
    const password = byId('signup-password', HTMLInputElement).value;
    const info = parseJson(signupInfo.value, true);
    if (!info.ok) {
      signupInfo.focus();
      return;
    }
    authMessage.textContent = 'Creating the account…';
    await logIn(username, password, () =>
      client.createUser({ username, password, ...(info.value === undefined ? {} : { info: info.value }) }),
    );
  })();
});

byId('logout', HTMLButtonElement).addEventListener('click', () => signedOut());

// ---------------------------------------------------------------- views (tabs)

const views = ['live', 'insert', 'history', 'users'] as const;
type View = (typeof views)[number];
/** The view on screen (undefined: none yet since signing in). */
let shown: View | undefined;

function showView(name: string): void {
  let view: View = (views as readonly string[]).includes(name) ? (name as View) : 'live';
  if (view === 'users' && usersTab.hidden) view = 'live';
  for (const v of views) {
    byId(`view-${v}`, HTMLElement).hidden = v !== view;
    const link = byId(`tab-${v}`, HTMLAnchorElement);
    if (v === view) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const changed = view !== shown;
  shown = view;
  if (!changed || me === undefined) return;
  if (view === 'insert') void pending.reload();
  if (view === 'users') users.show();
}

window.addEventListener('hashchange', () => showView(location.hash.slice(1)));
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && me !== undefined) void pending.reload();
});

// ---------------------------------------------------------------- live stream and current values

const liveBody = byId('live-body', HTMLTableSectionElement);
const liveEmpty = byId('live-empty', HTMLElement);
const valuesBody = byId('values-body', HTMLTableSectionElement);
const valuesEmpty = byId('values-empty', HTMLElement);
const valueRows = new Map<string, HTMLTableRowElement>();

/**
 * Every name this user may read: with the token (so the fetch transport), whose expiry the
 * client handles by renewing it and resuming. Only a session that is over closes it (401).
 */
function startStream(): void {
  subscription?.close();
  liveBody.replaceChildren();
  liveEmpty.hidden = false;
  valuesBody.replaceChildren();
  valueRows.clear();
  valuesEmpty.hidden = false;
  subscription = client.subscribe({
    auth: true,
    onEvent: (event) => {
      addLiveRow(event);
      setCurrentValue(event);
    },
    onStatus: (status) => {
      showStatus(status);
      if (status.state === 'closed' && status.error instanceof BrokerError && status.error.status === 401) {
        signedOut('Your session has ended. Please log in again.');
      }
    },
  });
}

function addLiveRow(event: StreamEvent): void {
  const row = el('tr');
  row.dataset.id = event.id;
  row.dataset.event = event.event;
  row.dataset.received = String(event.receivedAt.getTime());
  row.append(
    el('td', event.id, { class: 'num' }),
    el('td', formatTime(event.receivedAt)),
    el('td', event.event, { class: 'name' }),
    el('td', preview(event.data), { class: 'data', title: JSON.stringify(event.data) ?? '' }),
  );
  liveBody.prepend(row);
  while (liveBody.rows.length > MAX_LIVE_ROWS) liveBody.deleteRow(-1);
  liveEmpty.hidden = true;
}

function setCurrentValue(event: StreamEvent): void {
  let row = valueRows.get(event.event);
  if (!row) {
    row = el('tr');
    row.dataset.event = event.event;
    row.append(el('th', event.event, { scope: 'row', class: 'name' }), el('td'), el('td', '', { class: 'num' }), el('td'));
    valueRows.set(event.event, row);
    const after = [...valueRows.keys()].sort().find((name) => name > event.event);
    const next = after === undefined ? null : (valueRows.get(after) ?? null);
    valuesBody.insertBefore(row, next && next.parentElement === valuesBody ? next : null);
  }
  const [, data, id, at] = row.cells;
  if (data) {
    data.textContent = preview(event.data);
    data.title = JSON.stringify(event.data) ?? '';
    data.className = 'data';
  }
  if (id) id.textContent = event.id;
  if (at) at.textContent = formatTime(event.receivedAt);
  row.classList.remove('flash');
  void row.offsetWidth; // restart the highlight animation
  row.classList.add('flash');
  valuesEmpty.hidden = true;
}

byId('live-clear', HTMLButtonElement).addEventListener('click', () => {
  liveBody.replaceChildren();
  liveEmpty.hidden = false;
});

// ---------------------------------------------------------------- JSON validation

type Parsed = { ok: true; value: unknown } | { ok: false; error: string };

function parseJson(text: string, optional: boolean): Parsed {
  if (text.trim() === '') return optional ? { ok: true, value: undefined } : { ok: false, error: 'Enter a JSON value, e.g. {"name": "Rusty"} or null.' };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    return { ok: false, error: `Not valid JSON: ${errorText(error)}` };
  }
}

function attachJsonValidation(input: HTMLTextAreaElement, message: HTMLElement, optional: boolean): () => boolean {
  const check = (): boolean => {
    const parsed = parseJson(input.value, optional);
    input.setAttribute('aria-invalid', String(!parsed.ok));
    input.setCustomValidity(parsed.ok ? '' : parsed.error);
    message.textContent = parsed.ok ? '' : parsed.error;
    return parsed.ok;
  };
  input.addEventListener('input', check);
  return check;
}

// ---------------------------------------------------------------- insert

const insertForm = byId('insert-form', HTMLFormElement);
const insertEvent = byId('insert-event', HTMLInputElement);
const insertData = byId('insert-data', HTMLTextAreaElement);
const insertAt = byId('insert-at', HTMLInputElement);
const insertResult = byId('insert-result', HTMLElement);
const checkInsertData = attachJsonValidation(insertData, byId('insert-data-error', HTMLElement), false);
const whenAt = byId('when-at', HTMLInputElement);

function later(seconds: number): void {
  whenAt.checked = true;
  insertAt.value = toDateTimeLocal(new Date(Date.now() + seconds * 1000));
}
byId('plus-10s', HTMLButtonElement).addEventListener('click', () => later(10));
byId('plus-1min', HTMLButtonElement).addEventListener('click', () => later(60));
insertAt.addEventListener('input', () => {
  whenAt.checked = true;
});
byId('when-now', HTMLInputElement).addEventListener('change', () => {
  insertAt.setCustomValidity('');
});

insertForm.addEventListener('submit', (event) => {
  event.preventDefault();
  insertResult.textContent = '';
  delete insertResult.dataset.kind;
  if (!checkInsertData()) {
    insertData.focus();
    return;
  }
  const name = insertEvent.value;
  if (name.trim() === '') {
    insertEvent.setCustomValidity('Enter an event name.');
    insertEvent.reportValidity();
    return;
  }
  insertEvent.setCustomValidity('');
  let timestamp: Date | undefined;
  if (whenAt.checked) {
    timestamp = new Date(insertAt.value);
    if (insertAt.value === '' || Number.isNaN(timestamp.getTime())) {
      insertAt.setCustomValidity('Choose a date and time.');
      insertAt.reportValidity();
      return;
    }
  }
  insertAt.setCustomValidity('');
  const parsed = parseJson(insertData.value, false);
  if (!parsed.ok) return;
  void (async () => {
    try {
      const { id } = await client.insert({ event: name, data: parsed.value, ...(timestamp ? { timestamp } : {}) });
      const future = timestamp !== undefined && timestamp.getTime() > Date.now();
      insertResult.dataset.kind = 'ok';
      insertResult.textContent = future
        ? `Scheduled ${name} for ${formatDateTime(timestamp ?? new Date())} (id ${id}).`
        : `Inserted ${name} (id ${id}).`;
      if (future) void pending.reload();
    } catch (error) {
      handleError(error, insertResult);
    }
  })();
});

// ---------------------------------------------------------------- history

const historyForm = byId('history-form', HTMLFormElement);
const historyName = byId('history-name', HTMLInputElement);
const historyLimit = byId('history-limit', HTMLSelectElement);
const historyBody = byId('history-body', HTMLTableSectionElement);
const historyMessage = byId('history-message', HTMLElement);
const historyPrev = byId('history-prev', HTMLButtonElement);
const historyNext = byId('history-next', HTMLButtonElement);
const historyPage = byId('history-page', HTMLElement);
/** Cursors of the pages shown so far: cursors[i] is the `after` of page i + 1. */
let cursors: (string | undefined)[] = [];
let nextCursor: string | undefined;
let shownName = '';

async function loadHistory(page: number): Promise<void> {
  historyMessage.textContent = 'Loading…';
  delete historyMessage.dataset.kind;
  try {
    const after = cursors[page];
    const result = await client.history(shownName, { limit: Number(historyLimit.value), ...(after ? { after } : {}) });
    cursors = cursors.slice(0, page + 1);
    nextCursor = result.next;
    historyBody.replaceChildren();
    for (const e of result.events) {
      const state = e.cancelled ? 'cancelled' : e.published ? 'released' : 'pending';
      const row = el('tr');
      row.dataset.id = e.id;
      row.append(
        el('td', e.id.slice(0, 8), { class: 'mono', title: e.id }),
        el('td', formatDateTime(new Date(e.timestamp * 1000))),
        el('td', state, { class: `state ${state}` }),
        el('td', e.user_id === me?.id ? 'you' : e.user_id.slice(0, 8), { title: e.user_id }),
        el('td', preview(e.data), { class: 'data', title: JSON.stringify(e.data) ?? '' }),
      );
      historyBody.append(row);
    }
    historyMessage.textContent = result.events.length === 0 ? `No versions of ${shownName}.` : '';
    historyPage.textContent = result.events.length === 0 ? '' : `Page ${page + 1}`;
    historyPrev.disabled = page === 0;
    historyNext.disabled = nextCursor === undefined;
    historyPrev.onclick = () => void loadHistory(page - 1);
    historyNext.onclick = () => {
      cursors[page + 1] = nextCursor;
      void loadHistory(page + 1);
    };
  } catch (error) {
    handleError(error, historyMessage);
  }
}

historyForm.addEventListener('submit', (event) => {
  event.preventDefault();
  shownName = historyName.value;
  if (shownName.trim() === '') return;
  cursors = [undefined];
  void loadHistory(0);
});

// ---------------------------------------------------------------- start

if (client.session) void signedIn();
else signedOut();
