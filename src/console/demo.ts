/**
 * The original idea of Broker, as a page: a form whose fields are events. Every edit is inserted
 * as `demo.<form>.<field>`; every window subscribed to those names gets it and updates its
 * field. No backend code: only Broker and this page.
 */
import { BrokerError, type ConnectionStatus } from '../client/index.js';
import { byId, el, errorText } from './dom.js';
import { createSessionClient } from './session.js';

interface FieldUpdate {
  readonly value: string | boolean;
  /** The window that made the edit. */
  readonly by: string;
}

const client = createSessionClient();
const form = byId('demo-form', HTMLFormElement);
const status = byId('demo-status', HTMLElement);
const statusText = byId('demo-status-text', HTMLElement);
const message = byId('demo-message', HTMLElement);
const formName = (new URLSearchParams(location.search).get('form') ?? 'trip').replace(/[^A-Za-z0-9_-]/g, '') || 'trip';
const windowId = Math.random().toString(36).slice(2, 8);
byId('demo-window', HTMLElement).textContent = windowId;
byId('demo-form-name', HTMLElement).textContent = formName;

type Field = HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;
const fields = new Map<string, Field>();
for (const element of Array.from(form.elements)) {
  if (
    (element instanceof HTMLInputElement || element instanceof HTMLSelectElement || element instanceof HTMLTextAreaElement) &&
    element.name
  ) {
    fields.set(element.name, element);
  }
}
const eventName = (field: string): string => `demo.${formName}.${field}`;

function read(field: Field): string | boolean {
  return field instanceof HTMLInputElement && field.type === 'checkbox' ? field.checked : field.value;
}

function write(field: Field, value: string | boolean): void {
  if (field instanceof HTMLInputElement && field.type === 'checkbox') field.checked = value === true;
  else field.value = String(value);
}

/** Edits not yet sent (debounced while typing), per field. */
const unsent = new Map<string, ReturnType<typeof setTimeout>>();

function send(name: string, field: Field): void {
  const previous = unsent.get(name);
  if (previous !== undefined) clearTimeout(previous);
  unsent.set(
    name,
    setTimeout(() => {
      unsent.delete(name);
      const data: FieldUpdate = { value: read(field), by: windowId };
      client.insert({ event: eventName(name), data }).catch((error: unknown) => {
        message.textContent =
          error instanceof BrokerError && error.status === 401 ? 'Your session has expired: log in again in the console.' : errorText(error);
      });
    }, 150),
  );
}

function showStatus(s: ConnectionStatus): void {
  status.dataset.state = s.state;
  status.dataset.transport = s.transport;
  statusText.textContent =
    s.state === 'open' ? 'Live' : s.state === 'closed' ? `Closed${s.error ? `: ${s.error.message}` : ''}` : s.state === 'connecting' ? 'Connecting…' : 'Reconnecting…';
}

if (client.token) {
  for (const [name, field] of fields) {
    field.addEventListener('input', () => send(name, field));
    field.addEventListener('change', () => send(name, field));
  }
} else {
  // Anyone may watch (the stream is public unless STREAM_AUTH=true); editing needs a login.
  for (const field of fields.values()) field.disabled = true;
  message.replaceChildren('Read-only: ', el('a', 'log in in the console', { href: './' }), ' to edit, then come back.');
}

client.subscribe<FieldUpdate>({
  events: [...fields.keys()].map(eventName),
  onStatus: showStatus,
  onEvent: (event) => {
    const name = event.event.slice(`demo.${formName}.`.length);
    const field = fields.get(name);
    const update = event.data;
    if (!field || typeof update !== 'object' || update === null || !('value' in update)) return;
    // Our own echo, or a field being typed in right now: keep what is on the screen.
    if (update.by === windowId || unsent.has(name)) return;
    if (read(field) === update.value) return;
    write(field, update.value);
    const box = field.closest('.field');
    box?.classList.remove('flash');
    void (box instanceof HTMLElement ? box.offsetWidth : 0);
    box?.classList.add('flash');
  },
});
