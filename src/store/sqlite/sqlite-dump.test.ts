import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dumpContract } from '../contract/dump-contract.js';
import { SqliteDumpReader, SqliteDumpWriter } from './sqlite-dump.js';
import { SqliteStore } from './sqlite-store.js';

dumpContract('SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'broker-dump-'));
  const path = join(dir, 'broker.db');
  return {
    store: async (now) => new SqliteStore(path, now),
    reader: async () => SqliteDumpReader.open(path),
    writer: async () => SqliteDumpWriter.open(path),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});
