import { Type } from 'typebox';

/**
 * The shapes of the API, declared once: the routes validate request bodies with these very
 * schemas (bodyReader), and the OpenAPI document (GET /openapi.json) is generated from them, so
 * the two cannot drift apart. Typebox schemas are JSON Schema.
 */

// ---- request bodies -------------------------------------------------------------------------

export const Credentials = Type.Object(
  {
    username: Type.String({ description: '1–128 characters; unique ignoring letter case.' }),
    password: Type.String({ description: 'At least PASSWORD_MIN_LENGTH characters, at most 72 bytes of UTF-8, no NUL.' }),
    info: Type.Optional(Type.Unknown({ description: 'Any JSON about the user (sign-up only; ignored by login).' })),
  },
  { title: 'Credentials' },
);

export const RefreshRequest = Type.Object({ refresh_token: Type.String() }, { title: 'RefreshRequest' });

export const InsertItem = Type.Object(
  {
    event: Type.String({ description: 'The event name: 1–256 characters, no control characters.' }),
    timestamp: Type.Optional(Type.Number({ description: 'Epoch seconds at which it is released (0 … 253402300799); omitted = now.' })),
    data: Type.Unknown({ description: 'Any JSON value (may be null), at most 128 levels deep.' }),
  },
  { title: 'InsertItem' },
);

export const MePatch = Type.Object({ info: Type.Unknown() }, { additionalProperties: false, title: 'MePatch' });

export const PasswordChange = Type.Object(
  { old_password: Type.String(), new_password: Type.String() },
  { additionalProperties: false, title: 'PasswordChange' },
);

export const UserEdit = Type.Object(
  {
    info: Type.Optional(Type.Unknown()),
    roles: Type.Optional(Type.Array(Type.String(), { description: 'At most 32 names of 1–64 letters, digits, "_", ".", ":", "-".' })),
    password: Type.Optional(Type.String()),
    disabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, title: 'UserEdit' },
);

// ---- responses --------------------------------------------------------------------------------

export const IdAnswer = Type.Object({ id: Type.String() }, { additionalProperties: false, title: 'IdAnswer' });

export const TokenPair = Type.Object(
  {
    jwt: Type.String({ description: 'The access token (HS256), valid for expires_in seconds.' }),
    refresh_token: Type.String({ description: 'Rotates on every use; reusing a spent one ends the session.' }),
    expires_in: Type.Integer({ description: 'Seconds (EXPIRY).' }),
  },
  { additionalProperties: false, title: 'TokenPair' },
);

export const EventObject = Type.Object(
  {
    id: Type.String(),
    user_id: Type.String(),
    event: Type.String(),
    timestamp: Type.Number(),
    published: Type.Boolean({ description: 'Released.' }),
    cancelled: Type.Boolean(),
    data: Type.Unknown(),
  },
  { additionalProperties: false, title: 'Event' },
);

export const Me = Type.Object(
  { id: Type.String(), username: Type.String(), info: Type.Unknown(), roles: Type.Array(Type.String()) },
  { additionalProperties: false, title: 'Me' },
);

export const UserAccount = Type.Object(
  {
    id: Type.String(),
    username: Type.String(),
    info: Type.Unknown(),
    roles: Type.Array(Type.String()),
    disabled: Type.Boolean(),
    created_at: Type.Number({ description: 'Epoch seconds.' }),
  },
  { additionalProperties: false, title: 'UserAccount' },
);

export const UserPage = Type.Object(
  { users: Type.Array(UserAccount), next: Type.Union([Type.String(), Type.Null()], { description: 'The `after` of the next page.' }) },
  { additionalProperties: false, title: 'UserPage' },
);

export const Deleted = Type.Object({ id: Type.String(), deleted: Type.Literal(true) }, { additionalProperties: false, title: 'Deleted' });

export const Ok = Type.Object({ ok: Type.Literal(true) }, { additionalProperties: false, title: 'Ok' });

export const Health = Type.Object(
  {
    status: Type.Literal('ok'),
    subscribers: Type.Integer({ description: 'Open streams on this node.' }),
    storage: Type.Union([Type.Literal('ok'), Type.Literal('full')]),
  },
  { additionalProperties: false, title: 'Health' },
);
