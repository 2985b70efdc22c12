// Entry of the SQLite writer thread (see sqlite-writer.ts): one connection, every write.
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { openSqlite } from './open-sqlite.js';
import { runWrite, type WriteRequest, type WriteResponse, type WriterThreadData } from './sqlite-writer.js';
import { type SqliteWrites, sqliteWrites } from './sqlite-writes.js';

type AppendRequest = Extract<WriteRequest, { op: 'append' }>;

const port = parentPort;
if (!port) throw new Error('sqlite-writer-thread must run in a worker thread');
const { path, maxGroupRows } = workerData as WriterThreadData;
const db = openSqlite(path);
const writes: SqliteWrites = sqliteWrites(db);

function failure(call: number, error: unknown): WriteResponse {
  const e = error as { message?: unknown; code?: unknown };
  return {
    call,
    ok: false,
    message: typeof e.message === 'string' ? e.message : String(error),
    code: typeof e.code === 'string' ? e.code : undefined,
  };
}

function runOne(request: Exclude<WriteRequest, AppendRequest>): unknown {
  switch (request.op) {
    case 'run':
      return runWrite(writes, request.name, request.args);
    case 'close':
      db.close();
      return undefined;
  }
}

/**
 * One transaction (one fsync) for several queued appends, in their order. The latest `at` is
 * the commit's time: every item of the group was submitted by then. The group's releases go to
 * its first request, so they are reported once and in seq order.
 */
function appendGroup(group: readonly AppendRequest[]): void {
  const first = group[0] as AppendRequest;
  try {
    const batches = group.length === 1 ? first.batches : group.flatMap((r) => r.batches);
    const at = Math.max(...group.map((r) => r.at));
    const result = writes.append(batches, at, first.limit);
    let offset = 0;
    group.forEach((r, k) => {
      const mine = result.batches.slice(offset, (offset += r.batches.length));
      port?.postMessage({ call: r.call, ok: true, value: { released: k === 0 ? result.released : [], batches: mine } });
    });
  } catch (error) {
    for (const r of group) port?.postMessage(failure(r.call, error));
  }
}

// While a commit is on its way to disk, requests queue up on the port. Each time the thread
// wakes it takes all of them, and runs consecutive appends (up to maxGroupRows rows) as one
// transaction: under load the group grows by itself, and more inserts share one fsync.
port.on('message', (request: WriteRequest) => {
  const queue: WriteRequest[] = [request];
  for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
    queue.push(m.message as WriteRequest);
  }
  let group: AppendRequest[] = [];
  let rows = 0;
  const flush = (): void => {
    if (group.length > 0) appendGroup(group);
    group = [];
    rows = 0;
  };
  for (const r of queue) {
    if (r.op === 'append') {
      const size = r.batches.reduce((n, b) => n + b.events.length, 0);
      if (rows > 0 && rows + size > maxGroupRows) flush();
      group.push(r);
      rows += size;
      continue;
    }
    flush();
    let response: WriteResponse;
    try {
      response = { call: r.call, ok: true, value: runOne(r) };
    } catch (error) {
      response = failure(r.call, error);
    }
    port.postMessage(response);
  }
  flush();
});
