/**
 * Micro-benchmark of the SQLite writer's transaction (no HTTP, no threads): µs of writer time per
 * inserted row, in group commits of BATCH due-now inserts with synchronous=FULL as shipped, for
 * random UUIDv4 ids against Broker's UUIDv7 ids. Each variant gets a fresh database in a temp
 * dir and writes ROWS rows; it stops by itself.
 *
 *   npx tsx bench/sqlite-writes.ts            (npm run bench:writes)
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newEventId } from '../src/events/new-event-id.js';
import { openSqlite } from '../src/store/sqlite/open-sqlite.js';
import { migrate } from '../src/store/sqlite/sqlite-schema.js';
import { sqliteWrites } from '../src/store/sqlite/sqlite-writes.js';

const ROWS = 40_000;
const BATCH = 16;

function run(label: string, id: () => string): void {
  const dir = mkdtempSync(join(tmpdir(), 'broker-writes-'));
  try {
    const db = openSqlite(join(dir, 'w.db'));
    migrate(db);
    const writes = sqliteWrites(db);
    const t0 = performance.now();
    for (let n = 0; n < ROWS; n += BATCH) {
      const at = Date.now() / 1000;
      const items = Array.from({ length: BATCH }, (_, i) => ({
        id: id(),
        userId: 'bench',
        event: 'w',
        timestamp: at,
        data: `{"n":${n + i}}`,
      }));
      // One batch per row: BATCH single inserts sharing one commit, as concurrent requests do.
      writes.append(items.map((e) => ({ events: [e] })), at, 2000);
    }
    const us = ((performance.now() - t0) * 1000) / ROWS;
    db.close();
    console.log(`${label.padEnd(16)} ${us.toFixed(1).padStart(6)} µs per row (${ROWS} rows, batches of ${BATCH}, synchronous=FULL)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

run('random UUIDv4', randomUUID);
run('UUIDv7 (Broker)', newEventId);
