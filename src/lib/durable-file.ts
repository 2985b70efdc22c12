import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * A fresh name beside `target` (same directory, so a rename onto `target` is atomic: it never
 * crosses a file system), e.g. `broker.db.restore-3f9a1c.tmp`.
 */
export function tempPathBeside(target: string, tag: string): string {
  return join(dirname(target), `${basename(target)}.${tag}-${randomBytes(6).toString('hex')}.tmp`);
}

/** Waits until the file's content is on disk (fsync). */
export function fsyncFile(path: string): void {
  const fd = openSync(path, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Makes a directory's entries durable: after a rename, the new name survives a power cut. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Puts a finished `temp` file in place of `target` for good: its content is synced first, then
 * the rename (atomic: readers see the old file or the new one, never a mix), then the directory.
 */
export function replaceDurably(temp: string, target: string): void {
  fsyncFile(temp);
  renameSync(temp, target);
  fsyncDir(dirname(target));
}
