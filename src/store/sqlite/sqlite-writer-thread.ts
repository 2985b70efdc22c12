// Entry of the SQLite writer thread (see sqlite-writer.ts): one connection, every write.
import { parentPort, workerData } from 'node:worker_threads';
import { openSqlite } from './open-sqlite.js';
import type { WriteRequest, WriteResponse } from './sqlite-writer.js';
import { type SqliteWrites, sqliteWrites } from './sqlite-writes.js';

const port = parentPort;
if (!port) throw new Error('sqlite-writer-thread must run in a worker thread');
const db = openSqlite((workerData as { path: string }).path);
const writes: SqliteWrites = sqliteWrites(db);

port.on('message', (request: WriteRequest) => {
  let response: WriteResponse;
  try {
    if (request.op === 'close') {
      db.close();
      response = { call: request.call, ok: true, value: undefined };
    } else {
      const run = writes[request.op] as (...args: readonly unknown[]) => unknown;
      response = { call: request.call, ok: true, value: run(...request.args) };
    }
  } catch (error) {
    const e = error as { message?: unknown; code?: unknown };
    response = {
      call: request.call,
      ok: false,
      message: typeof e.message === 'string' ? e.message : String(error),
      code: typeof e.code === 'string' ? e.code : undefined,
    };
  }
  port.postMessage(response);
});
