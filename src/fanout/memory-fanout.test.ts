import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { fanoutContract } from './contract/fanout-contract.js';
import { MemoryFanout } from './memory-fanout.js';

fanoutContract('memory (SQLite)', {
  // The embedded store has one process: one node, whatever count is asked for.
  nodes: async () => [{ store: new SqliteStore(':memory:'), fanout: new MemoryFanout() }],
});
