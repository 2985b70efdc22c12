import { randomUUID } from 'node:crypto';
import { rolesProblem } from '../access/roles.js';
import { AppError } from '../errors/app-error.js';
import { LONE_SURROGATE } from '../events/event-name.js';
import { compactJson } from '../lib/compact-json.js';
import type { AuthChange, User, UserChange, UserStore } from '../store/store.js';
import { MAX_PASSWORD_BYTES, type PasswordHasher } from './password-hasher.js';

export const MAX_USERNAME_LENGTH = 128;
/** Largest page of GET /admin/users (users). */
export const USERS_MAX_LIMIT = 1000;
const CONTROL = /\p{Cc}/u;

/** What an admin (or the CLI) may change about a user; absent = unchanged. */
export interface UserEdit {
  readonly info?: unknown;
  readonly roles?: unknown;
  readonly password?: string;
  readonly disabled?: boolean;
}

/**
 * Users: sign-up, profile, passwords, and what admins (and the CLI) change. Every change that
 * must end access tokens — roles, password, disabling, deletion — goes through the store, which
 * logs it, and then to `revoked`, which makes it take effect on this node before the call returns.
 */
export class UserService {
  constructor(
    private readonly users: UserStore,
    private readonly hasher: PasswordHasher,
    private readonly passwordMinLength: number,
    private readonly revoked: (change: AuthChange) => void,
  ) {}

  async create(input: { username: string; password: string; info: unknown; roles?: readonly string[] }): Promise<string> {
    const username = input.username;
    if (username.trim() === '') throw new AppError('invalid_input', 'username must not be empty');
    if ([...username].length > MAX_USERNAME_LENGTH) {
      throw new AppError('invalid_input', `username must be at most ${MAX_USERNAME_LENGTH} characters`);
    }
    if (CONTROL.test(username) || LONE_SURROGATE.test(username)) {
      throw new AppError('invalid_input', 'username must be well-formed Unicode without control characters');
    }
    checkPassword(input.password, this.passwordMinLength);
    const roles = input.roles ?? [];
    const problem = rolesProblem(roles);
    if (problem) throw new AppError('invalid_input', problem);
    // Checked before hashing so a taken name costs no bcrypt work; the insert re-checks atomically.
    if (await this.users.findUserByName(username)) throw new AppError('username_taken');
    const id = randomUUID();
    const passwordHash = await this.hasher.hash(input.password);
    const info = compactJson(input.info ?? null, 'info');
    const result = await this.users.createUser({ id, username, passwordHash, info, roles });
    if (result === 'taken') throw new AppError('username_taken');
    return id;
  }

  async get(id: string): Promise<User> {
    const user = await this.users.findUserById(id);
    if (!user) throw new AppError('not_found', 'No user has that id.');
    return user;
  }

  async findByName(username: string): Promise<User> {
    const user = await this.users.findUserByName(username);
    if (!user) throw new AppError('not_found', `No user is called "${username}".`);
    return user;
  }

  async list(query: { search?: string; after?: string; limit?: number }): Promise<{ users: readonly User[]; next: string | undefined }> {
    const limit = query.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > USERS_MAX_LIMIT) {
      throw new AppError('invalid_input', `limit must be a whole number from 1 to ${USERS_MAX_LIMIT}`);
    }
    if (query.search !== undefined && query.search.length > MAX_USERNAME_LENGTH) {
      throw new AppError('invalid_input', `search must be at most ${MAX_USERNAME_LENGTH} characters`);
    }
    const users = await this.users.listUsers({ search: query.search, after: query.after, limit });
    if (users === undefined) throw new AppError('invalid_input', 'after must be the id of a user');
    return { users, next: users.length === limit ? users[users.length - 1]?.id : undefined };
  }

  /** Applies an admin's (or the CLI's) edit; refuses to leave no enabled admin. */
  async edit(id: string, edit: UserEdit): Promise<User> {
    const change: { -readonly [K in keyof UserChange]: UserChange[K] } = {};
    if (edit.info !== undefined) change.info = compactJson(edit.info, 'info');
    if (edit.roles !== undefined) {
      const problem = rolesProblem(edit.roles);
      if (problem) throw new AppError('invalid_input', problem);
      change.roles = edit.roles as string[];
    }
    if (edit.password !== undefined) {
      checkPassword(edit.password, this.passwordMinLength);
      change.passwordHash = await this.hasher.hash(edit.password);
    }
    if (edit.disabled !== undefined) change.disabled = edit.disabled;
    const result = await this.users.updateUser(id, change);
    switch (result.kind) {
      case 'not_found':
        throw new AppError('not_found', 'No user has that id.');
      case 'last_admin':
        throw new AppError('last_admin');
      case 'updated':
        if (result.change) this.revoked(result.change);
        return result.user;
    }
  }

  /** Changes one's own password, checking the old one first (every session of the user ends). */
  async changePassword(id: string, oldPassword: string, newPassword: string): Promise<User> {
    const user = await this.get(id);
    const tooLong = Buffer.byteLength(oldPassword, 'utf8') > MAX_PASSWORD_BYTES;
    if (!(await this.hasher.verify(tooLong ? '' : oldPassword, tooLong ? undefined : user.passwordHash))) {
      throw new AppError('invalid_credentials', 'The old password is wrong.');
    }
    return this.edit(id, { password: newPassword });
  }

  async delete(id: string): Promise<void> {
    const result = await this.users.deleteUser(id);
    switch (result.kind) {
      case 'not_found':
        throw new AppError('not_found', 'No user has that id.');
      case 'last_admin':
        throw new AppError('last_admin');
      case 'deleted':
        this.revoked(result.change);
    }
  }
}

export function checkPassword(password: string, minLength: number): void {
  // bcrypt reads a C string: everything from a NUL on is ignored, so "\0\0\0…" would equal "".
  if (password.includes('\u0000')) throw new AppError('invalid_input', 'password must not contain NUL characters');
  if ([...password].length < minLength) {
    throw new AppError('invalid_input', `password must be at least ${minLength} characters`);
  }
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) {
    throw new AppError(
      'invalid_input',
      `password must be at most ${MAX_PASSWORD_BYTES} bytes in UTF-8 (bcrypt ignores anything longer)`,
    );
  }
}
