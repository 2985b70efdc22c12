import { type TSchema, Type } from 'typebox';
import type { ErrorCode } from '../../errors/error-catalogue.js';
import {
  Credentials,
  Deleted,
  EventObject,
  Health,
  IdAnswer,
  InsertItem,
  Me,
  MePatch,
  Ok,
  PasswordChange,
  RefreshRequest,
  TokenPair,
  UserAccount,
  UserEdit,
  UserPage,
} from './schemas.js';

/** A parameter of a route (path, query or header), for the OpenAPI document. */
export interface ParamSpec {
  readonly name: string;
  readonly in: 'path' | 'query' | 'header';
  readonly description: string;
  readonly schema: TSchema;
  readonly required?: boolean;
}

/** A success answer: a JSON schema, or another media type (the stream, metrics, the console). */
export type Success =
  | { readonly status: 200; readonly json: TSchema; readonly headers?: readonly string[] }
  | { readonly status: 200 | 301 | 304; readonly media: string; readonly description: string };

/** One route of the API, as the OpenAPI document describes it. */
export interface RouteSpec {
  readonly method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** OpenAPI form: `/events/{event}`. */
  readonly path: string;
  readonly summary: string;
  readonly tag: 'users' | 'events' | 'stream' | 'admin' | 'operations' | 'console';
  /** Bearer: a token required (401 without one); optional: read when given. */
  readonly auth: 'none' | 'bearer' | 'optional';
  readonly params?: readonly ParamSpec[];
  readonly body?: TSchema;
  readonly success: readonly Success[];
  /** Error codes this route answers with (every route may also answer `internal`). */
  readonly errors: readonly ErrorCode[];
}

const limit: ParamSpec = { name: 'limit', in: 'query', description: 'Page size, 1–1000 (default 1000 for events, 100 for users).', schema: Type.Integer({ minimum: 1, maximum: 1000 }) };
const after: ParamSpec = { name: 'after', in: 'query', description: 'The id ending the previous page (its X-Next-After, or `next`).', schema: Type.String() };
const userId: ParamSpec = { name: 'id', in: 'path', description: 'A user id.', schema: Type.String(), required: true };
/** Errors of every JSON request body. */
const bodyErrors: readonly ErrorCode[] = ['invalid_json', 'invalid_input', 'unsupported_media_type', 'payload_too_large'];
const tokenErrors: readonly ErrorCode[] = ['unauthorized'];
const storeErrors: readonly ErrorCode[] = ['unavailable'];

/** Every route of Broker's API (a test checks it against the routes Fastify registered). */
export const routeSpecs: readonly RouteSpec[] = [
  {
    method: 'POST',
    path: '/users',
    summary: 'Sign up',
    tag: 'users',
    auth: 'none',
    body: Credentials,
    success: [{ status: 200, json: IdAnswer }],
    errors: [...bodyErrors, 'username_taken', 'rate_limited', ...storeErrors],
  },
  {
    method: 'POST',
    path: '/login',
    summary: 'Log in: an access token and a refresh token',
    tag: 'users',
    auth: 'none',
    body: Credentials,
    success: [{ status: 200, json: TokenPair }],
    errors: [...bodyErrors, 'invalid_credentials', 'user_disabled', 'rate_limited', ...storeErrors],
  },
  {
    method: 'POST',
    path: '/token/refresh',
    summary: 'A new token pair for a refresh token (which is spent)',
    tag: 'users',
    auth: 'none',
    body: RefreshRequest,
    success: [{ status: 200, json: TokenPair }],
    errors: [...bodyErrors, 'unauthorized', ...storeErrors],
  },
  {
    method: 'POST',
    path: '/logout',
    summary: 'End the session of the presented token',
    tag: 'users',
    auth: 'bearer',
    success: [{ status: 200, json: Ok }],
    errors: [...tokenErrors, 'invalid_input', ...storeErrors],
  },
  {
    method: 'GET',
    path: '/me',
    summary: 'The caller',
    tag: 'users',
    auth: 'bearer',
    success: [{ status: 200, json: Me }],
    errors: [...tokenErrors, 'not_found', ...storeErrors],
  },
  {
    method: 'PATCH',
    path: '/me',
    summary: "Change the caller's info",
    tag: 'users',
    auth: 'bearer',
    body: MePatch,
    success: [{ status: 200, json: Me }],
    errors: [...tokenErrors, ...bodyErrors, 'not_found', ...storeErrors],
  },
  {
    method: 'POST',
    path: '/me/password',
    summary: "Change the caller's password: every session ends, the caller gets a new pair",
    tag: 'users',
    auth: 'bearer',
    body: PasswordChange,
    success: [{ status: 200, json: TokenPair }],
    errors: [...tokenErrors, ...bodyErrors, 'invalid_credentials', 'not_found', ...storeErrors],
  },
  {
    method: 'GET',
    path: '/me/pending',
    summary: "The caller's pending events, ascending timestamp",
    tag: 'events',
    auth: 'bearer',
    params: [limit, after],
    success: [{ status: 200, json: Type.Array(EventObject), headers: ['X-Next-After'] }],
    errors: [...tokenErrors, 'invalid_input', ...storeErrors],
  },
  {
    method: 'GET',
    path: '/admin/users',
    summary: 'Users in name order (admins)',
    tag: 'admin',
    auth: 'bearer',
    params: [{ name: 'search', in: 'query', description: 'Part of the username, any case.', schema: Type.String() }, limit, after],
    success: [{ status: 200, json: UserPage }],
    errors: [...tokenErrors, 'forbidden', 'invalid_input', ...storeErrors],
  },
  {
    method: 'GET',
    path: '/admin/users/{id}',
    summary: 'One user (admins)',
    tag: 'admin',
    auth: 'bearer',
    params: [userId],
    success: [{ status: 200, json: UserAccount }],
    errors: [...tokenErrors, 'forbidden', 'not_found', ...storeErrors],
  },
  {
    method: 'PATCH',
    path: '/admin/users/{id}',
    summary: "Change a user's info, roles, password or disabled (admins)",
    tag: 'admin',
    auth: 'bearer',
    params: [userId],
    body: UserEdit,
    success: [{ status: 200, json: UserAccount }],
    errors: [...tokenErrors, ...bodyErrors, 'forbidden', 'not_found', 'last_admin', ...storeErrors],
  },
  {
    method: 'DELETE',
    path: '/admin/users/{id}',
    summary: 'Delete a user; their events stay (admins)',
    tag: 'admin',
    auth: 'bearer',
    params: [userId],
    success: [{ status: 200, json: Deleted }],
    errors: [...tokenErrors, 'forbidden', 'not_found', 'last_admin', ...storeErrors],
  },
  {
    method: 'POST',
    path: '/insert',
    summary: 'Insert an event, or a batch of them (all or nothing)',
    tag: 'events',
    auth: 'bearer',
    params: [
      {
        name: 'Idempotency-Key',
        in: 'header',
        description: '1–255 visible ASCII characters: a retry with the same key and body gets the first answer and stores nothing.',
        schema: Type.String({ minLength: 1, maxLength: 255 }),
      },
    ],
    body: Type.Union([InsertItem, Type.Array(InsertItem, { minItems: 1 })]),
    success: [{ status: 200, json: Type.Union([IdAnswer, Type.Array(IdAnswer)]), headers: ['Idempotent-Replayed'] }],
    errors: [...tokenErrors, ...bodyErrors, 'forbidden', 'idempotency_conflict', 'storage_full', ...storeErrors],
  },
  {
    method: 'GET',
    path: '/events/{event}',
    summary: 'Every version of a name, ascending timestamp',
    tag: 'events',
    auth: 'bearer',
    params: [{ name: 'event', in: 'path', description: 'The event name (URL-encoded).', schema: Type.String(), required: true }, limit, after],
    success: [{ status: 200, json: Type.Array(EventObject), headers: ['X-Next-After'] }],
    errors: [...tokenErrors, 'invalid_input', 'forbidden', ...storeErrors],
  },
  ...(['GET', 'POST'] as const).map(
    (method): RouteSpec => ({
      method,
      path: '/events/{id}/cancel',
      summary: method === 'GET' ? "Cancel a pending event (the original's GET)" : 'Cancel a pending event',
      tag: 'events',
      auth: 'bearer',
      params: [{ name: 'id', in: 'path', description: 'The event id.', schema: Type.String(), required: true }],
      success: [{ status: 200, json: EventObject }],
      errors: [...tokenErrors, 'invalid_json', 'forbidden', 'not_found', 'already_released', 'already_cancelled', ...storeErrors],
    }),
  ),
  {
    method: 'GET',
    path: '/events',
    summary: 'The stream (Server-Sent Events): snapshot or resume, then live',
    tag: 'stream',
    auth: 'optional',
    params: [
      {
        name: 'event',
        in: 'query',
        description: 'Names or patterns (`orders.*`, `chat.room1.>`), repeated; at most 100. Default: every name.',
        schema: Type.Array(Type.String()),
      },
      { name: 'lastEventId', in: 'query', description: 'Resume after this id (first connect).', schema: Type.Integer({ minimum: 0 }) },
      { name: 'access_token', in: 'query', description: 'A token, for EventSource (redacted from logs).', schema: Type.String() },
      { name: 'Last-Event-ID', in: 'header', description: 'Resume after this id (EventSource sends it).', schema: Type.String() },
    ],
    success: [{ status: 200, media: 'text/event-stream', description: 'Frames `id:`, `event:`, `data:`; `:hb` heartbeats; `retry:` first.' }],
    errors: ['invalid_input', 'unauthorized', 'forbidden', 'too_many_streams', 'too_many_subscribers', ...storeErrors],
  },
  {
    method: 'GET',
    path: '/health',
    summary: 'For load balancers',
    tag: 'operations',
    auth: 'none',
    success: [{ status: 200, json: Health }],
    errors: ['unavailable'],
  },
  {
    method: 'GET',
    path: '/metrics',
    summary: 'Prometheus metrics',
    tag: 'operations',
    auth: 'none',
    success: [{ status: 200, media: 'text/plain', description: 'Prometheus text format.' }],
    errors: [],
  },
  {
    method: 'GET',
    path: '/openapi.json',
    summary: 'This document',
    tag: 'operations',
    auth: 'none',
    success: [{ status: 200, media: 'application/json', description: 'OpenAPI 3.1.' }],
    errors: [],
  },
  {
    method: 'GET',
    path: '/console',
    summary: 'Redirect to the console',
    tag: 'console',
    auth: 'none',
    success: [{ status: 301, media: 'text/html', description: 'To console/.' }],
    errors: [],
  },
  ...['/console/', '/console/{file}', '/console/app/{file}', '/console/client/{file}'].map(
    (path): RouteSpec => ({
      method: 'GET',
      path,
      summary: 'The web console (static files)',
      tag: 'console',
      auth: 'none',
      params: path.includes('{file}') ? [{ name: 'file', in: 'path', description: 'A file name.', schema: Type.String(), required: true }] : [],
      success: [
        { status: 200, media: 'text/html', description: 'The file (HTML, JavaScript, CSS, images).' },
        { status: 304, media: 'text/html', description: 'Not modified (If-None-Match).' },
      ],
      errors: ['not_found'],
    }),
  ),
];
