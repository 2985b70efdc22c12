import type { IncomingMessage } from 'node:http';

export interface DiscardLimits {
  /** Most bytes read and thrown away; a body declared (Content-Length) or sent longer is cut off. */
  readonly maxBytes: number;
  /** Longest time spent reading, in milliseconds: a slow sender cannot hold the connection longer. */
  readonly maxMs: number;
  /** Aborted when the server shuts down: stop waiting for the client at once. */
  readonly signal?: AbortSignal;
}

/**
 * `drained`: the client sent its whole request, so it is listening for the answer. `cut`: it may
 * still be sending; the answer should close the connection, and the client may see a reset
 * before it reads the answer.
 */
export type DiscardOutcome = 'drained' | 'cut';

/**
 * Reads and throws away the rest of a request body that will not be used (it is over the body
 * limit), within bounds. Answering while the client is still sending, then closing, makes many
 * clients (Node's fetch among them) fail with EPIPE or "other side closed" instead of reading
 * the answer: waiting until the body has arrived lets them read it.
 */
export function discardBody(req: IncomingMessage, limits: DiscardLimits): Promise<DiscardOutcome> {
  if (req.complete) return Promise.resolve('drained');
  const declared = Number(req.headers['content-length']);
  if (req.destroyed || declared > limits.maxBytes || limits.signal?.aborted) return Promise.resolve('cut');
  return new Promise((resolve) => {
    let discarded = 0;
    const finish = (outcome: DiscardOutcome): void => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      limits.signal?.removeEventListener('abort', onAbort);
      // A cut body is left flowing (its bytes are dropped) until the answer closes the socket.
      resolve(outcome);
    };
    const onData = (chunk: Buffer): void => {
      discarded += chunk.length;
      if (discarded > limits.maxBytes) finish('cut');
    };
    const onEnd = (): void => finish('drained');
    // The client went away (or the socket was destroyed): nobody is left to read the answer.
    const onClose = (): void => finish('cut');
    const onAbort = (): void => finish('cut');
    const timer = setTimeout(() => finish('cut'), limits.maxMs);
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('close', onClose);
    limits.signal?.addEventListener('abort', onAbort, { once: true });
    req.resume();
  });
}
