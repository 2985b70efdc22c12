import { randomUUID } from 'node:crypto';
import { AppError } from '../errors/app-error.js';
import { LONE_SURROGATE } from '../events/event-name.js';
import { compactJson } from '../lib/compact-json.js';
import type { UserStore } from '../store/store.js';
import { MAX_PASSWORD_BYTES, type PasswordHasher } from './password-hasher.js';
import type { TokenService } from './token-service.js';

export const MAX_USERNAME_LENGTH = 128;
const CONTROL = /\p{Cc}/u;

/** Sign-up and login. Usernames are unique ignoring letter case; passwords are bcrypt hashes. */
export class UserService {
  constructor(
    private readonly users: UserStore,
    private readonly hasher: PasswordHasher,
    private readonly tokens: TokenService,
    private readonly passwordMinLength: number,
  ) {}

  async create(input: { username: string; password: string; info: unknown }): Promise<string> {
    const username = input.username;
    if (username.trim() === '') throw new AppError('invalid_input', 'username must not be empty');
    if ([...username].length > MAX_USERNAME_LENGTH) {
      throw new AppError('invalid_input', `username must be at most ${MAX_USERNAME_LENGTH} characters`);
    }
    if (CONTROL.test(username) || LONE_SURROGATE.test(username)) {
      throw new AppError('invalid_input', 'username must be well-formed Unicode without control characters');
    }
    checkPassword(input.password, this.passwordMinLength);
    // Checked before hashing so a taken name costs no bcrypt work; the insert re-checks atomically.
    if (await this.users.findUserByName(username)) throw new AppError('username_taken');
    const id = randomUUID();
    const passwordHash = await this.hasher.hash(input.password);
    const info = compactJson(input.info ?? null, 'info');
    const result = await this.users.createUser({ id, username, passwordHash, info });
    if (result === 'taken') throw new AppError('username_taken');
    return id;
  }

  async login(username: string, password: string): Promise<string> {
    // Too long for bcrypt: it cannot be anyone's password, but still spend the same time.
    const tooLong = Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES;
    const user = tooLong ? undefined : await this.users.findUserByName(username);
    const ok = await this.hasher.verify(tooLong ? '' : password, user?.passwordHash);
    if (!ok || !user) throw new AppError('invalid_credentials');
    return this.tokens.issue(user.id);
  }
}

function checkPassword(password: string, minLength: number): void {
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
