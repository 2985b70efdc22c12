import { type ErrorCode, errorCatalogue } from './error-catalogue.js';

/**
 * An error Broker expects and answers for: a stable `code` (see docs/errors.md), a public
 * `message` safe to send to the caller, and an optional private `cause` that is logged only.
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;

  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? errorCatalogue[code].message, options);
    this.name = 'AppError';
    this.code = code;
    this.status = errorCatalogue[code].status;
  }
}
