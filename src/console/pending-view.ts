import { type BrokerClient, BrokerError, type BrokerEvent } from '../client/index.js';
import { byId, countdown, el, formatDateTime, preview } from './dom.js';

/** Pending events listed at most (the first page of `GET /me/pending`, soonest first). */
const PAGE = 100;
/** After an event's due time, wait this long before asking Broker again (ms): its release commits first. */
const AFTER_DUE_MS = 1000;

/**
 * "Your pending events": the user's events that are neither released nor cancelled, as Broker
 * lists them (`GET /me/pending`) — wherever they were inserted from (another browser, a script).
 * Each has a countdown and a Cancel button. The list is read again when it may have changed: on
 * sign-in, when the tab is shown or the page becomes visible, after an insert or a cancel, and
 * once an event's due time has passed.
 */
export class PendingView {
  private readonly body = byId('pending-body', HTMLTableSectionElement);
  private readonly empty = byId('pending-empty', HTMLElement);
  private readonly message = byId('pending-message', HTMLElement);
  private readonly more = byId('pending-more', HTMLElement);
  private countdowns: { cell: HTMLElement; event: BrokerEvent }[] = [];
  private loading: Promise<void> | undefined;
  private again = false;
  private nextDue: number | undefined;
  private active = false;

  constructor(
    private readonly client: BrokerClient,
    private readonly onError: (error: unknown, target: HTMLElement) => void,
  ) {
    setInterval(() => this.tick(), 1000);
  }

  start(): void {
    this.active = true;
    this.body.replaceChildren();
    this.countdowns = [];
    this.message.textContent = '';
    void this.reload();
  }

  stop(): void {
    this.active = false;
  }

  /** Reads the list again (one read at a time; a request during a read makes one more). */
  reload(): Promise<void> {
    if (!this.active) return Promise.resolve();
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = this.load().finally(() => {
      this.loading = undefined;
      if (this.again) {
        this.again = false;
        void this.reload();
      }
    });
    return this.loading;
  }

  private async load(): Promise<void> {
    try {
      const page = await this.client.pending({ limit: PAGE });
      if (this.active) this.render(page.events, page.next !== undefined);
    } catch (error) {
      if (this.active) this.onError(error, this.message);
    }
  }

  private render(events: readonly BrokerEvent[], more: boolean): void {
    this.body.replaceChildren();
    this.countdowns = [];
    for (const event of events) {
      const due = new Date(event.timestamp * 1000);
      const row = el('tr');
      row.dataset.id = event.id;
      row.dataset.event = event.event;
      const cell = el('td', countdown(due.getTime() - Date.now()), { class: 'countdown' });
      const cancel = el('button', 'Cancel', {
        type: 'button',
        class: 'danger',
        'aria-label': `Cancel ${event.event} due ${formatDateTime(due)}`,
      });
      cancel.addEventListener('click', () => void this.cancel(event, cancel));
      const actions = el('td');
      actions.append(cancel);
      row.append(
        el('td', event.event, { class: 'name' }),
        el('td', formatDateTime(due)),
        cell,
        el('td', preview(event.data, 60), { class: 'data', title: JSON.stringify(event.data) ?? '' }),
        actions,
      );
      this.body.append(row);
      this.countdowns.push({ cell, event });
    }
    this.empty.hidden = events.length > 0;
    this.more.hidden = !more;
    this.nextDue = events.length > 0 ? Math.min(...events.map((e) => e.timestamp * 1000)) : undefined;
  }

  private async cancel(event: BrokerEvent, button: HTMLButtonElement): Promise<void> {
    button.disabled = true;
    try {
      await this.client.cancel(event.id);
      this.message.textContent = `Cancelled ${event.event} (id ${event.id}).`;
      this.message.dataset.kind = 'ok';
    } catch (error) {
      if (!(error instanceof BrokerError) || !['already_released', 'already_cancelled', 'not_found'].includes(error.code)) {
        button.disabled = false;
        this.onError(error, this.message);
        return;
      }
      this.message.textContent = `${event.event} could not be cancelled: ${error.message}`;
      this.message.dataset.kind = 'error';
    }
    await this.reload();
  }

  private tick(): void {
    const now = Date.now();
    for (const { cell, event } of this.countdowns) cell.textContent = countdown(event.timestamp * 1000 - now);
    // The soonest is released by now: the list has changed.
    if (this.nextDue !== undefined && now >= this.nextDue + AFTER_DUE_MS) {
      this.nextDue = undefined;
      void this.reload();
    }
  }
}
