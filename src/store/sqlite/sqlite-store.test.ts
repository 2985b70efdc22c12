import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storeContract } from '../contract/store-contract.js';
import type { Store } from '../store.js';
import { SqliteStore } from './sqlite-store.js';

const dir = mkdtempSync(join(tmpdir(), 'broker-sqlite-'));
const path = join(dir, 'contract.db');

storeContract('SQLite', {
  create: async (now) => new SqliteStore(path, now),
  reopen: async (store: Store, now) => {
    await store.close();
    return new SqliteStore(path, now);
  },
  cleanup: async () => rmSync(dir, { recursive: true, force: true }),
});
