import { Worker } from 'node:worker_threads';
import type { AppendBatch } from '../store.js';
import type { SqliteConnection } from './open-sqlite.js';
import { type AppendResult, type SqliteWrites, sqliteWrites } from './sqlite-writes.js';

/** The writes other than append: each runs as one transaction of its own. */
export type WriteName = Exclude<keyof SqliteWrites, 'append'>;
type Args<K extends WriteName> = Parameters<SqliteWrites[K]>;
type Result<K extends WriteName> = ReturnType<SqliteWrites[K]>;

/** The writes of the embedded store, asynchronous: in a worker thread, or inline. */
export interface SqliteWriter {
  /**
   * Inserts `batches` and releases what is due by `at`. The writer may commit several calls in
   * one transaction: their releases are then all reported to the first of them (the others get
   * an empty `released`), and each call gets the results of its own batches.
   */
  append(batches: readonly AppendBatch[], at: number, releaseLimit: number): Promise<AppendResult>;
  /** Runs one of the other writes (releases, cancels, users, sessions) on the writer's connection. */
  run<K extends WriteName>(name: K, ...args: Args<K>): Promise<Result<K>>;
  close(): Promise<void>;
}

type Command =
  | { readonly op: 'append'; readonly batches: readonly AppendBatch[]; readonly at: number; readonly limit: number }
  | { readonly op: 'run'; readonly name: WriteName; readonly args: readonly unknown[] }
  | { readonly op: 'close' };
/** A request to the writer thread; `call` pairs it with its response. */
export type WriteRequest = Command & { readonly call: number };
export type WriteResponse =
  | { readonly call: number; readonly ok: true; readonly value: unknown }
  | { readonly call: number; readonly ok: false; readonly message: string; readonly code?: string };

/** Calls the write `name` of `writes` with arguments that crossed a thread boundary untyped. */
export function runWrite(writes: SqliteWrites, name: WriteName, args: readonly unknown[]): unknown {
  const write = writes[name] as (...a: readonly unknown[]) => unknown;
  return write(...args);
}

/** Data the writer thread starts with. */
export interface WriterThreadData {
  readonly path: string;
  /** Most rows the thread merges into one transaction from the appends queued for it. */
  readonly maxGroupRows: number;
}

/** Same-thread writes, for an in-memory database (a worker could not share it). */
export function inlineWriter(db: SqliteConnection): SqliteWriter {
  const w = sqliteWrites(db);
  return {
    append: async (batches, at, limit) => w.append(batches, at, limit),
    run: async (name, ...args) => runWrite(w, name, args) as never,
    close: async () => {},
  };
}

/**
 * Writes on a dedicated thread with its own connection: a commit's fsync (about 0.3–2 ms with
 * synchronous=FULL) blocks that thread, never the event loop, so requests keep being parsed
 * while a commit is on its way to disk. The thread commits together every append that queued
 * up while it was busy (group commit sized by the load itself). Reads stay on the main
 * thread's connection (WAL lets them run beside the writer).
 */
export function threadWriter(path: string, maxGroupRows: number): SqliteWriter {
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = new URL(fromSource ? './sqlite-writer-thread.ts' : './sqlite-writer-thread.js', import.meta.url);
  const workerData: WriterThreadData = { path, maxGroupRows };
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

  const send = <T>(command: Command): Promise<T> => {
    if (dead) return Promise.reject(dead);
    const call = next++;
    return new Promise<T>((resolve, reject) => {
      pending.set(call, { resolve: resolve as (value: unknown) => void, reject });
      worker.postMessage({ ...command, call });
    });
  };
  return {
    append: (batches, at, limit) => send({ op: 'append', batches, at, limit }),
    run: (name, ...args) => send({ op: 'run', name, args }),
    close: async () => {
      if (!dead) await send({ op: 'close' });
      await worker.terminate();
    },
  };
}
