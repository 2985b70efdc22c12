import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storeContract } from '../contract/store-contract.js';
import type { Store } from '../store.js';
import { SqliteStore } from './sqlite-store.js';

const dir = mkdtempSync(join(tmpdir(), 'broker-sqlite-'));
const path = join(dir, 'contract.db');

storeContract('SQLite', {
  create: async () => new SqliteStore(path),
  reopen: async (store: Store) => {
    await store.close();
    return new SqliteStore(path);
  },
  cleanup: async () => rmSync(dir, { recursive: true, force: true }),
});
