/**
 * Every error code Broker answers with, its HTTP status and default message. docs/errors.md
 * lists the same table; test/errors-doc.test.ts fails when the two drift apart.
 */
export const errorCatalogue = {
  invalid_json: { status: 400, message: 'The request body is not valid JSON.' },
  invalid_input: { status: 400, message: 'The request is not valid.' },
  unauthorized: { status: 401, message: 'A valid token is required.' },
  last_admin: { status: 400, message: 'That would leave no enabled admin; make another user an admin first.' },
  invalid_credentials: { status: 401, message: 'Wrong username or password.' },
  forbidden: { status: 403, message: 'You may not do that.' },
  user_disabled: { status: 403, message: 'This account is disabled.' },
  not_found: { status: 404, message: 'Not found.' },
  route_not_found: { status: 404, message: 'No such endpoint.' },
  method_not_allowed: { status: 405, message: 'Method not allowed on this endpoint.' },
  username_taken: { status: 409, message: 'That username is taken.' },
  already_released: { status: 409, message: 'The event has already been released.' },
  already_cancelled: { status: 409, message: 'The event has already been cancelled.' },
  payload_too_large: { status: 413, message: 'The request body is too large.' },
  idempotency_conflict: { status: 422, message: 'This Idempotency-Key was used for a different request; use a new key for a new request.' },
  unsupported_media_type: { status: 415, message: 'Send the body as application/json.' },
  rate_limited: { status: 429, message: 'Too many attempts; try again later.' },
  too_many_streams: { status: 429, message: 'Too many open streams for this user or address; close one or try again later.' },
  internal: { status: 500, message: 'Internal server error.' },
  unavailable: { status: 503, message: 'The service is unavailable; try again later.' },
  storage_full: { status: 507, message: 'The database is out of space; nothing was stored. Try again once space is freed.' },
  too_many_subscribers: { status: 503, message: 'Too many open streams on this node; try again later.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof errorCatalogue;
