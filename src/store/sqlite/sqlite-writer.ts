import { Worker } from 'node:worker_threads';
import type { Database } from 'better-sqlite3';
import type { CancelResult, NewEvent, ReleasedEvent, User } from '../store.js';
import { type SqliteWrites, sqliteWrites } from './sqlite-writes.js';

/** The writes of the embedded store, asynchronous: in a worker thread, or inline. */
export interface SqliteWriter {
  append(items: readonly NewEvent[], at: number, releaseLimit: number): Promise<ReleasedEvent[]>;
  releaseDue(at: number, limit: number): Promise<ReleasedEvent[]>;
  cancel(id: string, userId: string, at: number): Promise<CancelResult>;
  createUser(user: User, at: number): Promise<'created' | 'taken'>;
  close(): Promise<void>;
}

type Op = keyof SqliteWrites;
type Command = { readonly op: Op; readonly args: readonly unknown[] } | { readonly op: 'close' };
export type WriteRequest = Command & { readonly call: number };
export type WriteResponse =
  | { readonly call: number; readonly ok: true; readonly value: unknown }
  | { readonly call: number; readonly ok: false; readonly message: string; readonly code?: string };

/** Same-thread writes, for an in-memory database (a worker could not share it). */
export function inlineWriter(db: Database): SqliteWriter {
  const w = sqliteWrites(db);
  return {
    append: async (items, at, limit) => w.append(items, at, limit),
    releaseDue: async (at, limit) => w.releaseDue(at, limit),
    cancel: async (id, userId, at) => w.cancel(id, userId, at),
    createUser: async (user, at) => w.createUser(user, at),
    close: async () => {},
  };
}

/**
 * Writes on a dedicated thread with its own connection: a commit's fsync (about 1–2 ms with
 * synchronous=FULL) blocks that thread, never the event loop, so requests keep being parsed
 * and the next group commit keeps filling while one is on its way to disk. Reads stay on the
 * main thread's connection (WAL lets them run beside the writer).
 */
export function threadWriter(path: string): SqliteWriter {
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = new URL(fromSource ? './sqlite-writer-thread.ts' : './sqlite-writer-thread.js', import.meta.url);
  const workerData = { path };
  // Run from TypeScript sources (tests, tsx), the thread must load tsx itself: loader hooks
  // registered by --import do not reach worker threads on Node 20.
  const worker = fromSource
    ? new Worker(
        `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); })`,
        { eval: true, workerData },
      )
    : new Worker(entry, { workerData });
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let next = 0;
  let dead: Error | undefined;
  worker.on('message', (response: WriteResponse) => {
    const p = pending.get(response.call);
    if (!p) return;
    pending.delete(response.call);
    if (response.ok) p.resolve(response.value);
    else p.reject(Object.assign(new Error(response.message), { code: response.code }));
  });
  const fail = (error: Error): void => {
    dead = error;
    for (const p of pending.values()) p.reject(error);
    pending.clear();
  };
  worker.on('error', (error) => fail(error));
  worker.on('exit', (code) => fail(new Error(`the SQLite writer thread exited (${code})`)));

  const send = <T>(request: Command): Promise<T> => {
    if (dead) return Promise.reject(dead);
    const call = next++;
    return new Promise<T>((resolve, reject) => {
      pending.set(call, { resolve: resolve as (value: unknown) => void, reject });
      worker.postMessage({ ...request, call });
    });
  };
  return {
    append: (items, at, limit) => send({ op: 'append', args: [items, at, limit] }),
    releaseDue: (at, limit) => send({ op: 'releaseDue', args: [at, limit] }),
    cancel: (id, userId, at) => send({ op: 'cancel', args: [id, userId, at] }),
    createUser: (user, at) => send({ op: 'createUser', args: [user, at] }),
    close: async () => {
      if (!dead) await send({ op: 'close' });
      await worker.terminate();
    },
  };
}
