/** An error answer from Broker (`{"error", "code"}` with an HTTP status), or a network failure. */
export class BrokerError extends Error {
  override readonly name = 'BrokerError';
  /** HTTP status; 0 when no answer arrived (network error, aborted). */
  readonly status: number;
  /** Broker's stable error code (docs/errors.md), or `network` / `bad_response`. */
  readonly code: string;
  /** Seconds to wait, from a `Retry-After` header. */
  readonly retryAfter: number | undefined;

  constructor(message: string, options: { status: number; code: string; retryAfter?: number; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status;
    this.code = options.code;
    this.retryAfter = options.retryAfter;
  }
}

/** Builds a BrokerError from a non-2xx response (reads its body). */
export async function errorFromResponse(res: Response): Promise<BrokerError> {
  let message = `HTTP ${res.status}`;
  let code = 'http_error';
  try {
    const body: unknown = JSON.parse(await res.text());
    if (typeof body === 'object' && body !== null) {
      const record = body as Record<string, unknown>;
      if (typeof record.error === 'string') message = record.error;
      if (typeof record.code === 'string') code = record.code;
    }
  } catch {
    // not JSON: keep the generic message
  }
  const header = res.headers.get('retry-after');
  const retryAfter = header !== null && /^\d+$/.test(header.trim()) ? Number(header.trim()) : undefined;
  return new BrokerError(message, { status: res.status, code, ...(retryAfter === undefined ? {} : { retryAfter }) });
}
