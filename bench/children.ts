/**
 * Registry of every process and temp dir the suite creates, so that they are cleaned up on
 * normal exit, on an error, on SIGINT/SIGTERM and when a scenario overruns its hard deadline.
 * Only processes registered here are ever signalled. Async cleanups (dropping the PostgreSQL
 * databases the suite created) run on signals and uncaught errors, bounded to a few seconds.
 * Auxiliary pids are processes the suite does not own but whose work it causes (the PostgreSQL
 * backends of its own database): they are never signalled, only counted as the suite's load.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';

const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();
const asyncCleanups = new Set<() => Promise<void>>();
const auxPidSources = new Set<() => number[]>();

export function trackChild<T extends ChildProcess>(child: T): T {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Pids of the child processes still running. */
export function liveChildPids(): number[] {
  const pids: number[] = [];
  for (const child of live) if (child.pid !== undefined && child.exitCode === null) pids.push(child.pid);
  return pids;
}

/** Registers pids (read on each call) whose CPU counts as the suite's own load; returns the unregister function. */
export function trackAuxPids(source: () => number[]): () => void {
  auxPidSources.add(source);
  return () => auxPidSources.delete(source);
}

/** Pids of auxiliary processes (see trackAuxPids). */
export function auxPids(): number[] {
  const pids: number[] = [];
  for (const source of auxPidSources) pids.push(...source());
  return pids;
}

/** Registers an async cleanup for signals and uncaught errors; returns the unregister function. */
export function onAsyncCleanup(fn: () => Promise<void>): () => void {
  asyncCleanups.add(fn);
  return () => asyncCleanups.delete(fn);
}

/** Runs the registered async cleanups (each removes itself when done), for at most `timeoutMs`. */
export async function runAsyncCleanups(timeoutMs = 8_000): Promise<void> {
  const all = [...asyncCleanups].map((fn) => fn().catch(() => undefined));
  await Promise.race([Promise.all(all), new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
}

export function trackTempDir(dir: string): void {
  tempDirs.add(dir);
}

export function removeTempDir(dir: string): void {
  tempDirs.delete(dir);
  fs.rmSync(dir, { recursive: true, force: true });
}

export function killAllChildren(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

function cleanupSync(): void {
  killAllChildren();
  for (const dir of tempDirs) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort at exit
    }
  }
  tempDirs.clear();
}

let exiting = false;

/** Kills the children, runs the async cleanups (bounded), removes temp dirs, exits. */
function cleanupThenExit(code: number): void {
  if (exiting) return;
  exiting = true;
  killAllChildren();
  void runAsyncCleanups().finally(() => {
    cleanupSync();
    process.exit(code);
  });
}

export function installCleanupHandlers(): void {
  process.once('exit', cleanupSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping the processes it started\n`);
      cleanupThenExit(130);
    });
  }
  process.on('uncaughtException', (err) => {
    process.stderr.write(`bench: uncaught ${err.stack ?? String(err)}\n`);
    cleanupThenExit(1);
  });
  process.on('unhandledRejection', (reason) => {
    process.stderr.write(`bench: unhandled rejection ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}\n`);
    cleanupThenExit(1);
  });
}
