/**
 * An import file is hostile input: every line is parsed and checked here, field by field, before
 * anything reaches a database. The checks are those Broker applies when the data first came in
 * (event names, roles, usernames, timestamps, compact JSON), plus what a store row must satisfy
 * on both backends (safe integers, no NUL or lone surrogates, which PostgreSQL or UTF-8 cannot
 * hold), so that a file one backend accepts the other accepts too.
 */
import { rolesProblem } from '../access/roles.js';
import { MAX_USERNAME_LENGTH } from '../auth/user-service.js';
import { eventNameProblem, LONE_SURROGATE } from '../events/event-name.js';
import { MAX_TIMESTAMP } from '../events/event-service.js';
import { compactJson } from '../lib/compact-json.js';
import { DataMoveError } from '../store/data-move-error.js';
import type { DumpRecord } from '../store/dump.js';
import { COUNT_KEYS, DUMP_FORMAT, DUMP_VERSION, type DumpCounts, type DumpHeader, zeroCounts } from './dump-format.js';

/** Longest id, session id or token hash, in characters (Broker's are 36–43). */
const MAX_ID_LENGTH = 200;
/** Longest password hash, in characters (bcrypt's are 60). */
const MAX_HASH_LENGTH = 1024;
/** Largest token generation: PostgreSQL keeps it in an `integer`. */
const MAX_GEN = 2_147_483_647;
const CONTROL = /\p{Cc}/u;

export type ParsedLine =
  | { readonly kind: 'header'; readonly header: DumpHeader }
  | { readonly kind: 'record'; readonly record: DumpRecord }
  | { readonly kind: 'end'; readonly counts: DumpCounts };

/** A problem with one field or record; the caller adds the line number. */
class Problem extends Error {}

type Fields = Readonly<Record<string, unknown>>;

/** Parses and checks line number `line` of an import file (its text without the line feed). */
export function parseDumpLine(text: string, line: number): ParsedLine {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw DataMoveError.atLine(line, 'is not JSON (each line of an export is one JSON object)');
  }
  try {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Problem('must be a JSON object');
    const o = value as Fields;
    if (line === 1) return { kind: 'header', header: header(o) };
    switch (o.type) {
      case 'header':
        throw new Problem('a second header: the header is the first line only');
      case 'end':
        return { kind: 'end', counts: end(o) };
      case 'user':
      case 'event':
      case 'latest':
      case 'session':
      case 'refresh_token':
      case 'auth_change':
        return { kind: 'record', record: record(o, o.type) };
      default:
        throw new Problem(
          typeof o.type === 'string' ? `has the unknown type ${JSON.stringify(o.type)}` : 'lacks its "type" (a string)',
        );
    }
  } catch (error) {
    if (error instanceof Problem) throw DataMoveError.atLine(line, error.message);
    throw error;
  }
}

function header(o: Fields): DumpHeader {
  if (o.type !== 'header' || o.format !== DUMP_FORMAT) {
    throw new Problem(`is not the header of a Broker export (expected {"type":"header","format":"${DUMP_FORMAT}",…})`);
  }
  const version = o.version;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    throw new Problem('"version" must be a whole number of at least 1');
  }
  if (version > DUMP_VERSION) {
    throw new DataMoveError(
      `the file is in export format version ${version}, newer than this Broker reads (${DUMP_VERSION}): import it with a newer Broker`,
      false,
    );
  }
  keys(o, ['type', 'format', 'version', 'release_seq'], 'the header');
  return { releaseSeq: integer(o, 'release_seq', 0, Number.MAX_SAFE_INTEGER) };
}

function end(o: Fields): DumpCounts {
  keys(o, ['type', ...Object.values(COUNT_KEYS)], 'the end record');
  const counts = zeroCounts();
  for (const [section, key] of Object.entries(COUNT_KEYS)) {
    counts[section as keyof DumpCounts] = integer(o, key, 0, Number.MAX_SAFE_INTEGER);
  }
  return counts;
}

function record(o: Fields, type: DumpRecord['type']): DumpRecord {
  switch (type) {
    case 'user': {
      keys(o, ['type', 'id', 'username', 'password_hash', 'info', 'roles', 'disabled', 'gen', 'created_at'], 'a user');
      const roles = o.roles;
      const rolesWrong = rolesProblem(roles);
      if (rolesWrong !== undefined) throw new Problem(`"roles": ${rolesWrong}`);
      return {
        type,
        id: id(o, 'id'),
        username: username(o),
        passwordHash: text(o, 'password_hash', MAX_HASH_LENGTH),
        info: jsonText(o, 'info'),
        roles: roles as string[],
        disabled: bool(o, 'disabled'),
        gen: integer(o, 'gen', 0, MAX_GEN),
        createdAt: time(o, 'created_at'),
      };
    }
    case 'event': {
      keys(
        o,
        ['type', 'id', 'user_id', 'event', 'timestamp', 'data', 'inserted_at', 'seq', 'released_at', 'cancelled', 'cancelled_at'],
        'an event',
      );
      const seq = nullable(o, 'seq', () => integer(o, 'seq', 1, Number.MAX_SAFE_INTEGER));
      const releasedAt = nullable(o, 'released_at', () => time(o, 'released_at'));
      const cancelled = bool(o, 'cancelled');
      const cancelledAt = nullable(o, 'cancelled_at', () => time(o, 'cancelled_at'));
      if ((seq === null) !== (releasedAt === null)) throw new Problem('"seq" and "released_at" must both be set (released) or both null');
      if (cancelled !== (cancelledAt !== null)) throw new Problem('"cancelled_at" must be set exactly when "cancelled" is true');
      if (cancelled && seq !== null) throw new Problem('a released event cannot be cancelled (only pending ones can)');
      return {
        type,
        id: id(o, 'id'),
        userId: id(o, 'user_id'),
        event: eventName(o, 'event'),
        timestamp: time(o, 'timestamp'),
        data: jsonText(o, 'data'),
        insertedAt: time(o, 'inserted_at'),
        seq,
        releasedAt,
        cancelled,
        cancelledAt,
      };
    }
    case 'latest':
      keys(o, ['type', 'event', 'seq', 'timestamp'], 'a latest row');
      return { type, event: eventName(o, 'event'), seq: integer(o, 'seq', 1, Number.MAX_SAFE_INTEGER), timestamp: time(o, 'timestamp') };
    case 'session':
      keys(o, ['type', 'id', 'user_id', 'created_at', 'ended_at'], 'a session');
      return {
        type,
        id: id(o, 'id'),
        userId: id(o, 'user_id'),
        createdAt: time(o, 'created_at'),
        endedAt: nullable(o, 'ended_at', () => time(o, 'ended_at')),
      };
    case 'refresh_token':
      keys(o, ['type', 'hash', 'session_id', 'expires_at', 'spent_at'], 'a refresh token');
      return {
        type,
        hash: id(o, 'hash'),
        sessionId: id(o, 'session_id'),
        expiresAt: time(o, 'expires_at'),
        spentAt: nullable(o, 'spent_at', () => time(o, 'spent_at')),
      };
    case 'auth_change': {
      keys(o, ['type', 'id', 'at', 'user_id', 'gen', 'session_id'], 'an auth change');
      const gen = nullable(o, 'gen', () => integer(o, 'gen', 0, MAX_GEN));
      const sessionId = nullable(o, 'session_id', () => id(o, 'session_id'));
      if ((gen === null) === (sessionId === null)) {
        throw new Problem('exactly one of "gen" (tokens revoked) and "session_id" (a session ended) must be set');
      }
      return { type, id: integer(o, 'id', 1, Number.MAX_SAFE_INTEGER), at: time(o, 'at'), userId: id(o, 'user_id'), gen, sessionId };
    }
  }
}

/** Every key in `expected` present, no other: a field we do not know would be silently lost. */
function keys(o: Fields, expected: readonly string[], what: string): void {
  for (const key of Object.keys(o)) {
    if (!expected.includes(key)) throw new Problem(`${what} has the unknown field ${JSON.stringify(key)}`);
  }
  for (const key of expected) if (!(key in o)) throw new Problem(`${what} lacks the field "${key}"`);
}

function nullable<T>(o: Fields, key: string, read: () => T): T | null {
  return o[key] === null ? null : read();
}

function text(o: Fields, key: string, max: number): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length === 0 || v.length > max) {
    throw new Problem(`"${key}" must be a string of 1 to ${max} characters`);
  }
  if (CONTROL.test(v) || LONE_SURROGATE.test(v)) throw new Problem(`"${key}" must be well-formed Unicode without control characters`);
  return v;
}

function id(o: Fields, key: string): string {
  return text(o, key, MAX_ID_LENGTH);
}

function username(o: Fields): string {
  const v = text(o, 'username', MAX_USERNAME_LENGTH * 2);
  if (v.trim() === '' || [...v].length > MAX_USERNAME_LENGTH) {
    throw new Problem(`"username" must be 1 to ${MAX_USERNAME_LENGTH} characters, not only spaces`);
  }
  return v;
}

function eventName(o: Fields, key: string): string {
  const v = o[key];
  if (typeof v !== 'string') throw new Problem(`"${key}" must be a string`);
  const problem = eventNameProblem(v);
  if (problem !== undefined) throw new Problem(`"${key}" ${problem}`);
  return v;
}

function integer(o: Fields, key: string, min: number, max: number): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new Problem(`"${key}" must be a whole number from ${min} to ${max}`);
  }
  return v;
}

/** Epoch seconds (fractions allowed), within the range Broker accepts for a timestamp. */
function time(o: Fields, key: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > MAX_TIMESTAMP) {
    throw new Problem(`"${key}" must be epoch seconds from 0 to ${MAX_TIMESTAMP}`);
  }
  return v;
}

function bool(o: Fields, key: string): boolean {
  const v = o[key];
  if (typeof v !== 'boolean') throw new Problem(`"${key}" must be true or false`);
  return v;
}

/**
 * JSON text exactly as Broker stores it: compact (what JSON.stringify writes), so that no line
 * break can reach an SSE frame and the text exports back byte for byte; nested at most as deep
 * as an insert may be.
 */
function jsonText(o: Fields, key: string): string {
  const v = o[key];
  if (typeof v !== 'string') throw new Problem(`"${key}" must be a string holding JSON text`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(v);
  } catch {
    throw new Problem(`"${key}" must hold valid JSON text`);
  }
  let compact: string;
  try {
    compact = compactJson(parsed, key);
  } catch (error) {
    throw new Problem(error instanceof Error ? error.message : String(error));
  }
  if (compact !== v) throw new Problem(`"${key}" must be compact JSON text as Broker stores it (no spaces or line breaks, e.g. {"a":1})`);
  return v;
}
