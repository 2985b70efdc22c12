/**
 * A synthetic export file, written straight from the format's own encoder: the fast way to a
 * database of a million events (importing it takes a fraction of the time inserting through
 * HTTP would). It is also exactly what an export of the imported database must give back, byte
 * for byte, which the dump scenario checks.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { encodeEnd, encodeHeader, encodeRecord, zeroCounts } from '../src/dump/dump-format.js';
import type { DumpRecord } from '../src/store/dump.js';

export interface DumpFileShape {
  events: number;
  users: number;
  /** Distinct event names the events cycle through. */
  names: number;
}

export interface DumpFileInfo {
  bytes: number;
  sha256: string;
  /** Events released (the rest are pending, a few of them cancelled). */
  released: number;
}

/** One event in this many is left pending (due in a day), one pending in ten of those cancelled. */
const PENDING_EVERY = 100;
/** Bytes per write. */
const WRITE_BYTES = 1 << 20;

const uuid = (prefix: string, n: number): string => `${prefix}-0000-7000-8000-${n.toString(16).padStart(12, '0')}`;

/** Writes the file at `path`; returns its size and hash. Names sort as bytes do (ASCII only). */
export async function writeDumpFile(path: string, shape: DumpFileShape): Promise<DumpFileInfo> {
  const handle = await open(path, 'w');
  const hash = createHash('sha256');
  let bytes = 0;
  let buffer = '';
  const flush = async (): Promise<void> => {
    const chunk = Buffer.from(buffer, 'utf8');
    buffer = '';
    hash.update(chunk);
    bytes += chunk.length;
    await handle.write(chunk);
  };
  const counts = zeroCounts();
  const put = async (record: DumpRecord): Promise<void> => {
    counts[record.type] += 1;
    buffer += `${encodeRecord(record)}\n`;
    if (buffer.length >= WRITE_BYTES) await flush();
  };
  const t0 = 1_800_000_000;
  const released = shape.events - Math.floor(shape.events / PENDING_EVERY);
  try {
    buffer += `${encodeHeader({ releaseSeq: released })}\n`;
    for (let u = 0; u < shape.users; u++) {
      await put({
        type: 'user',
        id: uuid('0000aaaa', u),
        username: `bench-user-${u}`,
        passwordHash: '$2b$10$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01',
        info: `{"n":${u}}`,
        roles: u === 0 ? ['admin'] : [],
        disabled: false,
        // The auth change below revoked user 0's tokens of generation 0.
        gen: u === 0 ? 1 : 0,
        createdAt: t0 - 86_400 + u,
      });
    }
    // Released events first in insertion order, due in insertion order, so seq = position; the
    // last 1 % are pending, a day ahead.
    const newest = new Map<string, { seq: number; timestamp: number }>();
    for (let i = 0; i < shape.events; i++) {
      const event = `bench.name-${(i % shape.names).toString().padStart(6, '0')}`;
      const pending = i >= released;
      const timestamp = pending ? t0 + 86_400 + i / 1000 : t0 + i / 1000;
      const seq = pending ? null : i + 1;
      const cancelled = pending && i % 10 === 0;
      if (seq !== null) newest.set(event, { seq, timestamp });
      await put({
        type: 'event',
        id: uuid('01900000', i),
        userId: uuid('0000aaaa', i % shape.users),
        event,
        timestamp,
        data: `{"n":${i},"text":"the quick brown fox jumps over the lazy dog","ok":true}`,
        insertedAt: t0 + i / 1000,
        seq,
        releasedAt: seq === null ? null : t0 + i / 1000,
        cancelled,
        cancelledAt: cancelled ? t0 + 1 : null,
      });
    }
    for (const event of [...newest.keys()].sort()) {
      const n = newest.get(event) as { seq: number; timestamp: number };
      await put({ type: 'latest', event, seq: n.seq, timestamp: n.timestamp });
    }
    for (let u = 0; u < shape.users; u++) {
      await put({ type: 'session', id: uuid('0000bbbb', u), userId: uuid('0000aaaa', u), createdAt: t0, endedAt: null });
    }
    for (let u = 0; u < shape.users; u++) {
      await put({ type: 'refresh_token', hash: `hash-${u.toString().padStart(8, '0')}`, sessionId: uuid('0000bbbb', u), expiresAt: t0 + 2_592_000, spentAt: null });
    }
    await put({ type: 'auth_change', id: 1, at: t0, userId: uuid('0000aaaa', 0), gen: 1, sessionId: null });
    buffer += `${encodeEnd(counts)}\n`;
    await flush();
  } finally {
    await handle.close();
  }
  return { bytes, sha256: hash.digest('hex'), released };
}
