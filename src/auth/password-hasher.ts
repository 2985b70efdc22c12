import { availableParallelism } from 'node:os';
import bcrypt from 'bcrypt';
import { AppError } from '../errors/app-error.js';
import { Semaphore } from '../lib/semaphore.js';

/** bcrypt only reads the first 72 bytes of a password; longer ones are refused, not truncated. */
export const MAX_PASSWORD_BYTES = 72;

/** Hashes waiting for a slot before new ones are refused with 503 (a login storm). */
const MAX_WAITING = 1000;

/**
 * bcrypt's async functions run on libuv's thread pool, so a hash (~70 ms at cost 10) never
 * blocks the event loop. They are CPU-bound, though: four pool threads hashing at once on a
 * 2-core machine would starve the event loop, and every stream with it. So at most
 * (cores − 1) hashes run at once (at least one), and the others wait their turn.
 */
export class PasswordHasher {
  /** A hash to compare against when the user does not exist, so both paths cost the same. */
  private readonly dummy: Promise<string>;
  private readonly slots: Semaphore;

  constructor(
    private readonly cost: number,
    concurrency = Math.max(1, availableParallelism() - 1),
  ) {
    this.slots = new Semaphore(
      concurrency,
      MAX_WAITING,
      () => new AppError('unavailable', 'Too many logins in progress; try again in a moment.'),
    );
    this.dummy = bcrypt.hash('timing-equaliser', cost);
  }

  hash(password: string): Promise<string> {
    return this.slots.run(() => bcrypt.hash(password, this.cost));
  }

  async verify(password: string, hash: string | undefined): Promise<boolean> {
    const against = hash ?? (await this.dummy);
    const ok = await this.slots.run(() => bcrypt.compare(password, against));
    return ok && hash !== undefined;
  }
}
