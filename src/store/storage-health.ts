import { AppError } from '../errors/app-error.js';

/** Error codes meaning "no space left" (SQLite's SQLITE_FULL; PostgreSQL's disk_full). */
const FULL = new Set(['SQLITE_FULL', '53100']);

/**
 * Whether the storage is out of space, as the last writes found it: set by a write that failed
 * for lack of space (turned into a 507 `storage_full`), cleared by the next write that succeeds
 * — once space is freed inserts work again, with no restart. /health reports it.
 */
export class StorageHealth {
  private isFull = false;

  get full(): boolean {
    return this.isFull;
  }

  /** Awaits a write: marks the storage full (and answers 507) or fine again. */
  async write<T>(work: Promise<T>): Promise<T> {
    try {
      const result = await work;
      this.isFull = false;
      return result;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (typeof code === 'string' && FULL.has(code)) {
        this.isFull = true;
        throw new AppError('storage_full', undefined, { cause: error });
      }
      throw error;
    }
  }
}

/** A database Broker cannot use at start-up (read-only, corrupt, a newer schema): exit 2, no stack trace. */
export class StorageOpenError extends Error {
  override readonly name = 'StorageOpenError';
}
