import type { BrokerClient, UserAccount, UserPatch } from '../client/index.js';
import { byId, el, formatDateTime } from './dom.js';

/** Users per page. */
const PAGE = 20;

/** "admin, editor" → ['admin', 'editor'] (blank and repeated names dropped). */
export function parseRoles(text: string): string[] {
  return [...new Set(text.split(',').map((r) => r.trim()).filter((r) => r !== ''))];
}

/**
 * The Users tab, for admins: search users by name (paged), disable or enable one in a click, and
 * edit one's roles or set a new password (`PATCH /admin/users/{id}`). Broker's refusals are shown
 * as they come (e.g. `last_admin`: the last enabled admin cannot be demoted or disabled).
 */
export class UsersView {
  private readonly body = byId('users-body', HTMLTableSectionElement);
  private readonly message = byId('users-message', HTMLElement);
  private readonly search = byId('users-search', HTMLInputElement);
  private readonly prev = byId('users-prev', HTMLButtonElement);
  private readonly next = byId('users-next', HTMLButtonElement);
  private readonly pageLabel = byId('users-page', HTMLElement);
  private readonly editForm = byId('user-edit', HTMLFormElement);
  private readonly editTitle = byId('user-edit-title', HTMLElement);
  private readonly editId = byId('user-edit-id', HTMLElement);
  private readonly editRoles = byId('user-roles', HTMLInputElement);
  private readonly editDisabled = byId('user-disabled', HTMLInputElement);
  private readonly editPassword = byId('user-password', HTMLInputElement);
  private readonly editMessage = byId('user-edit-message', HTMLElement);
  /** cursors[i] is the `after` of page i (undefined for the first). */
  private cursors: (string | undefined)[] = [undefined];
  private page = 0;
  private editing: UserAccount | undefined;

  constructor(
    private readonly client: BrokerClient,
    /** The signed-in user's id (their own row says "you"). */
    private readonly selfId: () => string,
    /** Called after a change to the signed-in user: their roles may be different now. */
    private readonly onSelfChanged: () => void,
    private readonly onError: (error: unknown, target: HTMLElement, prefix?: string) => void,
  ) {
    byId('users-search-form', HTMLFormElement).addEventListener('submit', (event) => {
      event.preventDefault();
      this.cursors = [undefined];
      void this.load(0);
    });
    this.prev.addEventListener('click', () => void this.load(this.page - 1));
    this.next.addEventListener('click', () => void this.load(this.page + 1));
    this.editForm.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.save();
    });
    byId('user-edit-close', HTMLButtonElement).addEventListener('click', () => this.closeEditor());
  }

  /** Shows the first page of the current search. */
  show(): void {
    this.cursors = [undefined];
    void this.load(0);
  }

  reset(): void {
    this.body.replaceChildren();
    this.message.textContent = '';
    this.search.value = '';
    this.closeEditor();
  }

  private async load(page: number): Promise<void> {
    this.message.textContent = 'Loading…';
    delete this.message.dataset.kind;
    try {
      const after = this.cursors[page];
      const search = this.search.value.trim();
      const result = await this.client.listUsers({ limit: PAGE, ...(search ? { search } : {}), ...(after ? { after } : {}) });
      this.page = page;
      this.cursors = [...this.cursors.slice(0, page + 1), result.next];
      this.body.replaceChildren(...result.users.map((user) => this.row(user)));
      this.message.textContent = result.users.length === 0 ? (search ? `No username contains “${search}”.` : 'No users.') : '';
      this.pageLabel.textContent = result.users.length === 0 ? '' : `Page ${page + 1}`;
      this.prev.disabled = page === 0;
      this.next.disabled = result.next === undefined;
    } catch (error) {
      this.onError(error, this.message);
    }
  }

  private row(user: UserAccount): HTMLTableRowElement {
    const row = el('tr');
    row.dataset.id = user.id;
    row.dataset.username = user.username;
    row.dataset.disabled = String(user.disabled);
    const name = el('td', user.username, { class: 'name', title: user.id });
    if (user.id === this.selfId()) name.append(' ', el('small', '(you)'));
    const toggle = el('button', user.disabled ? 'Enable' : 'Disable', {
      type: 'button',
      class: user.disabled ? 'secondary' : 'danger',
      'aria-label': `${user.disabled ? 'Enable' : 'Disable'} ${user.username}`,
    });
    toggle.addEventListener('click', () => void this.apply(user, { disabled: !user.disabled }, this.message, toggle));
    const edit = el('button', 'Edit', { type: 'button', class: 'secondary', 'aria-label': `Edit ${user.username}` });
    edit.addEventListener('click', () => this.openEditor(user));
    const actions = el('td', undefined, { class: 'actions' });
    actions.append(edit, toggle);
    row.append(
      name,
      el('td', user.roles.join(', ') || '—', { class: 'roles' }),
      el('td', user.disabled ? 'disabled' : 'enabled', { class: `state ${user.disabled ? 'cancelled' : 'released'}` }),
      el('td', formatDateTime(new Date(user.created_at * 1000)), { class: 'created' }),
      actions,
    );
    return row;
  }

  private openEditor(user: UserAccount): void {
    this.editing = user;
    this.editTitle.textContent = `Edit ${user.username}`;
    this.editId.textContent = `id ${user.id}`;
    this.editRoles.value = user.roles.join(', ');
    this.editDisabled.checked = user.disabled;
    this.editPassword.value = '';
    this.editMessage.textContent = '';
    this.editForm.hidden = false;
    this.editRoles.focus();
  }

  private closeEditor(): void {
    this.editing = undefined;
    this.editForm.hidden = true;
  }

  private async save(): Promise<void> {
    const user = this.editing;
    if (!user) return;
    const patch: { roles?: string[]; disabled?: boolean; password?: string } = {};
    const roles = parseRoles(this.editRoles.value);
    if (roles.join('\u0000') !== user.roles.join('\u0000')) patch.roles = roles;
    if (this.editDisabled.checked !== user.disabled) patch.disabled = this.editDisabled.checked;
    if (this.editPassword.value !== '') patch.password = this.editPassword.value;
    if (Object.keys(patch).length === 0) {
      this.editMessage.textContent = 'Nothing to change.';
      delete this.editMessage.dataset.kind;
      return;
    }
    const saved = await this.apply(user, patch, this.editMessage);
    if (saved) {
      this.editing = saved;
      this.editPassword.value = '';
    }
  }

  /** Sends the change, shows the outcome in `target`, and shows the page again. */
  private async apply(user: UserAccount, patch: UserPatch, target: HTMLElement, button?: HTMLButtonElement): Promise<UserAccount | undefined> {
    if (button) button.disabled = true;
    try {
      const saved = await this.client.updateUser(user.id, patch);
      target.textContent = `Saved ${saved.username}: ${describe(patch)}.`;
      target.dataset.kind = 'ok';
      if (saved.id === this.selfId()) this.onSelfChanged();
      await this.load(this.page);
      if (target === this.message) target.textContent = `Saved ${saved.username}: ${describe(patch)}.`;
      return saved;
    } catch (error) {
      if (button) button.disabled = false;
      this.onError(error, target, `Could not change ${user.username}: `);
      return undefined;
    }
  }
}

function describe(patch: UserPatch): string {
  const parts: string[] = [];
  if (patch.disabled !== undefined) parts.push(patch.disabled ? 'disabled' : 'enabled');
  if (patch.roles !== undefined) parts.push(`roles ${patch.roles.length > 0 ? patch.roles.join(', ') : 'none'}`);
  if (patch.password !== undefined) parts.push('new password set');
  return parts.join(', ');
}
