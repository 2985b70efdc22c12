/**
 * The dump ports: reading a whole database out as one consistent snapshot (`broker export`) and
 * loading one into an empty database (`broker import`). Both backends have both abilities. The
 * records are backend-independent: no insertion positions (`pos`), no derived keys, and each
 * section in a fixed order, so that the same data gives the same records on either backend.
 */
import type { Seq, User } from './store.js';

/** The sections of a dump, in document order: every record of one comes before the next. */
export const DUMP_SECTIONS = ['user', 'event', 'latest', 'session', 'refresh_token', 'auth_change'] as const;
export type DumpSection = (typeof DUMP_SECTIONS)[number];

/** A user, password hash included; in id order (byte order). */
export interface DumpUser extends User {
  readonly type: 'user';
}

/** One event version, in insertion order (which breaks ties of equal timestamps). Times: epoch s. */
export interface DumpEvent {
  readonly type: 'event';
  readonly id: string;
  readonly userId: string;
  readonly event: string;
  readonly timestamp: number;
  /** Compact JSON text. */
  readonly data: string;
  readonly insertedAt: number;
  readonly seq: Seq | null;
  readonly releasedAt: number | null;
  readonly cancelled: boolean;
  readonly cancelledAt: number | null;
}

/** Per name, the seq of its latest released version; in name order (byte order). */
export interface DumpLatest {
  readonly type: 'latest';
  readonly event: string;
  readonly seq: Seq;
  readonly timestamp: number;
}

/** A login session; in id order. */
export interface DumpSession {
  readonly type: 'session';
  readonly id: string;
  readonly userId: string;
  readonly createdAt: number;
  readonly endedAt: number | null;
}

/** A refresh token by its SHA-256 (never the token); in hash order. */
export interface DumpRefreshToken {
  readonly type: 'refresh_token';
  readonly hash: string;
  readonly sessionId: string;
  readonly expiresAt: number;
  readonly spentAt: number | null;
}

/** An entry of the auth change log (exactly one of gen and sessionId is set); in id order. */
export interface DumpAuthChange {
  readonly type: 'auth_change';
  readonly id: number;
  readonly at: number;
  readonly userId: string;
  readonly gen: number | null;
  readonly sessionId: string | null;
}

export type DumpRecord = DumpUser | DumpEvent | DumpLatest | DumpSession | DumpRefreshToken | DumpAuthChange;

export interface DumpSnapshot {
  /** The release position: the highest seq ever released (the next release gets the one after). */
  readonly releaseSeq: Seq;
  /** Every record, section by section in DUMP_SECTIONS order, in pages; read it once. */
  records(): AsyncIterable<readonly DumpRecord[]>;
}

/** Reads a whole database out (export). */
export interface DumpReader {
  /**
   * Runs `consume` on one consistent snapshot of the database, taken while Broker may run and
   * write: everything committed before the call, nothing committed after it.
   */
  read<T>(consume: (snapshot: DumpSnapshot) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** A record with the line of the import file it came from, to name it in an error. */
export interface NumberedRecord {
  readonly line: number;
  readonly record: DumpRecord;
}

/** Loads a dump into an empty database (import). */
export interface DumpWriter {
  /**
   * Loads every record of `batches` (in document order, already validated one by one) and sets
   * the release position to `releaseSeq`: all of it, or on any error nothing. Refuses, with a
   * DataMoveError, a database that holds anything, and records the database cannot take
   * together (a repeated id, a `latest` row without its event), naming their line.
   */
  load(releaseSeq: Seq, batches: AsyncIterable<readonly NumberedRecord[]>): Promise<void>;
  close(): Promise<void>;
}
