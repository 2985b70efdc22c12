/**
 * Open streams counted per user (with a token) and per client address (without), so that one
 * client cannot take every stream slot of a node (MAX_SUBSCRIBERS) and lock everyone else out.
 * The caps are far above what a normal app uses (several tabs on several devices); 0 = no cap.
 * Memory: one entry per user or address with an open stream.
 */
export class StreamQuota {
  private readonly open = new Map<string, number>();

  constructor(
    private readonly perUser: number,
    private readonly perIp: number,
  ) {}

  /**
   * Takes a slot for a user's stream (`userId`) or an anonymous one from `ip`; returns the
   * function that gives it back (call it once, when the stream ends), or undefined when the cap
   * is reached.
   */
  acquire(who: { readonly userId: string } | { readonly ip: string }): (() => void) | undefined {
    const [key, cap] = 'userId' in who ? [`u:${who.userId}`, this.perUser] : [`i:${who.ip}`, this.perIp];
    const count = this.open.get(key) ?? 0;
    if (cap > 0 && count >= cap) return undefined;
    this.open.set(key, count + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.open.get(key) ?? 1) - 1;
      if (left <= 0) this.open.delete(key);
      else this.open.set(key, left);
    };
  }
}
