/**
 * Registry of every process and temp dir the suite creates, so that they are cleaned up on
 * normal exit, on an error, on SIGINT/SIGTERM and when a scenario overruns its hard deadline.
 * Only processes registered here are ever signalled.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';

const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();

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

export function installCleanupHandlers(): void {
  process.once('exit', cleanupSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping the processes it started\n`);
      cleanupSync();
      process.exit(130);
    });
  }
  process.on('uncaughtException', (err) => {
    process.stderr.write(`bench: uncaught ${err.stack ?? String(err)}\n`);
    cleanupSync();
    process.exit(1);
  });
  process.on('unhandledRejection', (reason) => {
    process.stderr.write(`bench: unhandled rejection ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}\n`);
    cleanupSync();
    process.exit(1);
  });
}
