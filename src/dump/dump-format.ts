/**
 * The export file: NDJSON, one JSON object per line, each with a `type`. A header, then the
 * records section by section (users, events, latest, sessions, refresh tokens, auth changes),
 * then an end record with the count of each section, so that a file cut short is noticed.
 * Keys come in a fixed order and nothing depends on when or where it was written (no export
 * time, no insertion positions), so the same data gives byte-identical files on either backend.
 */
import type { DumpRecord, DumpSection } from '../store/dump.js';
import type { Seq } from '../store/store.js';

export const DUMP_FORMAT = 'broker-export';
/** The version of the file format (not of the database schema); a reader refuses newer ones. */
export const DUMP_VERSION = 1;

export interface DumpHeader {
  readonly releaseSeq: Seq;
}

/** How many records of each section; the end record carries it. */
export type DumpCounts = Record<DumpSection, number>;

/** The end record's key for each section's count. */
export const COUNT_KEYS: Readonly<Record<DumpSection, string>> = {
  user: 'users',
  event: 'events',
  latest: 'latest',
  session: 'sessions',
  refresh_token: 'refresh_tokens',
  auth_change: 'auth_changes',
};

export function zeroCounts(): DumpCounts {
  return { user: 0, event: 0, latest: 0, session: 0, refresh_token: 0, auth_change: 0 };
}

export function encodeHeader(header: DumpHeader): string {
  return JSON.stringify({ type: 'header', format: DUMP_FORMAT, version: DUMP_VERSION, release_seq: header.releaseSeq });
}

export function encodeEnd(counts: DumpCounts): string {
  const end: Record<string, unknown> = { type: 'end' };
  for (const [section, key] of Object.entries(COUNT_KEYS)) end[key] = counts[section as DumpSection];
  return JSON.stringify(end);
}

/** One record as its line (without the line feed). Absent values are written as null. */
export function encodeRecord(r: DumpRecord): string {
  switch (r.type) {
    case 'user':
      return JSON.stringify({
        type: r.type,
        id: r.id,
        username: r.username,
        password_hash: r.passwordHash,
        info: r.info,
        roles: r.roles,
        disabled: r.disabled,
        gen: r.gen,
        created_at: r.createdAt,
      });
    case 'event':
      return JSON.stringify({
        type: r.type,
        id: r.id,
        user_id: r.userId,
        event: r.event,
        timestamp: r.timestamp,
        data: r.data,
        inserted_at: r.insertedAt,
        seq: r.seq,
        released_at: r.releasedAt,
        cancelled: r.cancelled,
        cancelled_at: r.cancelledAt,
      });
    case 'latest':
      return JSON.stringify({ type: r.type, event: r.event, seq: r.seq, timestamp: r.timestamp });
    case 'session':
      return JSON.stringify({ type: r.type, id: r.id, user_id: r.userId, created_at: r.createdAt, ended_at: r.endedAt });
    case 'refresh_token':
      return JSON.stringify({ type: r.type, hash: r.hash, session_id: r.sessionId, expires_at: r.expiresAt, spent_at: r.spentAt });
    case 'auth_change':
      return JSON.stringify({ type: r.type, id: r.id, at: r.at, user_id: r.userId, gen: r.gen, session_id: r.sessionId });
  }
}
