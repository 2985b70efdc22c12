import type { IncomingMessage } from 'node:http';
import { type Logger, pino } from 'pino';

/** Query parameters that carry credentials and must never reach a log line. */
const SECRET_PARAMS = /([?&](?:access_token|token|jwt)=)[^&]*/gi;

export function redactUrl(url: string): string {
  return url.replace(SECRET_PARAMS, '$1[redacted]');
}

/**
 * Structured JSON logs on stdout. Request lines carry method, redacted URL and client address;
 * never headers (tokens, cookies), bodies (passwords) or stack traces.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'broker' },
    serializers: {
      req: (req: IncomingMessage & { ip?: string }) => ({
        method: req.method,
        url: redactUrl(req.url ?? ''),
        remoteAddress: req.ip ?? req.socket?.remoteAddress,
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      // Type, message and code only: a stack trace is for a debugger, not for a log shipper.
      err: (err: unknown) => {
        const e = err as { name?: unknown; message?: unknown; code?: unknown };
        return { type: e?.name, message: e?.message, code: e?.code };
      },
    },
  });
}
