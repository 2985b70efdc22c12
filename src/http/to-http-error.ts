import { AppError } from '../errors/app-error.js';
import { type ErrorCode, errorCatalogue } from '../errors/error-catalogue.js';

export interface HttpError {
  readonly status: number;
  readonly body: { readonly error: string; readonly code: ErrorCode };
  /** True when the caller did nothing wrong: log it with its cause. */
  readonly unexpected: boolean;
}

/** Fastify's own client errors, by their code. */
const fastifyCodes: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_input',
  FST_ERR_BAD_URL: 'invalid_input',
  FST_ERR_MAX_PARAM_LENGTH: 'invalid_input',
  FST_ERR_ASYNC_CONSTRAINT: 'invalid_input',
};

/** Clearer words than the catalogue's default for some of Fastify's codes. */
const fastifyMessages: Readonly<Record<string, string>> = {
  FST_ERR_BAD_URL: 'The URL is not valid (bad percent-encoding).',
  FST_ERR_MAX_PARAM_LENGTH: 'A path segment is too long: an event name is at most 256 characters.',
};

/**
 * The one place where an error becomes an HTTP status and a JSON body. Messages come from
 * AppError (written for callers) or the catalogue; never from an unexpected error, whose text
 * could carry internals.
 */
export function toHttpError(error: unknown): HttpError {
  if (error instanceof AppError) return make(error.code, error.message, false);
  const e = error as { code?: unknown; statusCode?: unknown; name?: unknown };
  const code = typeof e.code === 'string' ? fastifyCodes[e.code] : undefined;
  if (code) return make(code, fastifyMessages[e.code as string] ?? errorCatalogue[code].message, false);
  // JSON.parse failures surface as SyntaxError with status 400 from Fastify's parser.
  if (e.name === 'SyntaxError' && e.statusCode === 400) return make('invalid_json', errorCatalogue.invalid_json.message, false);
  if (e.statusCode === 400) return make('invalid_input', errorCatalogue.invalid_input.message, false);
  if (e.statusCode === 413) return make('payload_too_large', errorCatalogue.payload_too_large.message, false);
  return make('internal', errorCatalogue.internal.message, true);
}

function make(code: ErrorCode, message: string, unexpected: boolean): HttpError {
  return { status: errorCatalogue[code].status, body: { error: message, code }, unexpected };
}
