import bcrypt from 'bcrypt';

/** bcrypt only reads the first 72 bytes of a password; longer ones are refused, not truncated. */
export const MAX_PASSWORD_BYTES = 72;

/**
 * bcrypt's async functions run on libuv's thread pool, so a hash (~70 ms at cost 10) never
 * blocks the event loop.
 */
export class PasswordHasher {
  /** A hash to compare against when the user does not exist, so both paths cost the same. */
  private readonly dummy: Promise<string>;

  constructor(private readonly cost: number) {
    this.dummy = bcrypt.hash('timing-equaliser', cost);
  }

  hash(password: string): Promise<string> {
    return bcrypt.hash(password, this.cost);
  }

  async verify(password: string, hash: string | undefined): Promise<boolean> {
    const ok = await bcrypt.compare(password, hash ?? (await this.dummy));
    return ok && hash !== undefined;
  }
}
